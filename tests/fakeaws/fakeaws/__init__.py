"""fakeaws: a strict local emulator of the AWS services xacct talks to.

Standard library only. See ../README.md for the layout and the contract
between modules.
"""

# Service modules in load order. A module that is missing (or has no
# `Service` class) is skipped, so the core runs on its own.
SERVICE_MODULES = ("sqs", "sns", "iam", "sts", "s3", "cfn")
