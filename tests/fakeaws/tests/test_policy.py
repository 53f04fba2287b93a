"""IAM policy evaluation (fakeaws.policy): trust policies and topic policies.

Run: cd tests/fakeaws && python3 -m unittest -v tests.test_policy
"""
import json
import unittest

from fakeaws import policy as P

PARTNER = "111111111111"
CUSTOMER = "222222222222"
OTHER = "333333333333"
PARTNER_USER = "arn:aws:iam::%s:user/xacct" % PARTNER
OTHER_USER = "arn:aws:iam::%s:user/mallory" % OTHER
ROLE = "arn:aws:iam::%s:role/xacct-role" % CUSTOMER
TOPIC = "arn:aws:sns:us-east-1:%s:xacct-onboarding" % PARTNER


def trust(principal, condition=None, effect="Allow", action="sts:AssumeRole"):
    st = {"Effect": effect, "Principal": principal, "Action": action}
    if condition is not None:
        st["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [st]}


EXT = {"StringEquals": {"sts:ExternalId": "4f9c2a1e-0d5b-4c8e-9a57-2b0e1d6f3c44"}}
GOOD_EXT = "4f9c2a1e-0d5b-4c8e-9a57-2b0e1d6f3c44"

# (name, policy, caller account, caller arn, action, resource, context, expected)
TRUST_CASES = [
    ("external id required, present and right",
     trust({"AWS": "arn:aws:iam::%s:root" % PARTNER}, EXT), PARTNER, PARTNER_USER,
     "sts:AssumeRole", ROLE, {"sts:ExternalId": GOOD_EXT}, "Allow"),
    ("external id required, absent",
     trust({"AWS": "arn:aws:iam::%s:root" % PARTNER}, EXT), PARTNER, PARTNER_USER,
     "sts:AssumeRole", ROLE, {}, "ImplicitDeny"),
    ("external id required, wrong",
     trust({"AWS": "arn:aws:iam::%s:root" % PARTNER}, EXT), PARTNER, PARTNER_USER,
     "sts:AssumeRole", ROLE, {"sts:ExternalId": GOOD_EXT.upper()}, "ImplicitDeny"),
    ("external id required, right id but wrong account",
     trust({"AWS": "arn:aws:iam::%s:root" % PARTNER}, EXT), OTHER, OTHER_USER,
     "sts:AssumeRole", ROLE, {"sts:ExternalId": GOOD_EXT}, "ImplicitDeny"),
    ("no condition: assumable without external id",
     trust({"AWS": PARTNER}), PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("no condition: assumable with any external id",
     trust({"AWS": PARTNER}), PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE,
     {"sts:ExternalId": "whatever"}, "Allow"),
    ("condition key names are case-insensitive",
     trust({"AWS": PARTNER}, {"StringEquals": {"STS:EXTERNALID": "abc"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:externalid": "abc"}, "Allow"),
    ("condition values are case-sensitive for StringEquals",
     trust({"AWS": PARTNER}, {"StringEquals": {"sts:ExternalId": "abc"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "ABC"}, "ImplicitDeny"),
    ("StringEqualsIgnoreCase",
     trust({"AWS": PARTNER}, {"StringEqualsIgnoreCase": {"sts:ExternalId": "abc"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "ABC"}, "Allow"),
    ("several values of one key are alternatives",
     trust({"AWS": PARTNER}, {"StringEquals": {"sts:ExternalId": ["a1", "b2"]}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "b2"}, "Allow"),
    ("every key of a condition must hold",
     trust({"AWS": PARTNER}, {"StringEquals": {"sts:ExternalId": "a1",
                                               "aws:PrincipalAccount": OTHER}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "a1"}, "ImplicitDeny"),
    ("StringLike wildcard",
     trust({"AWS": PARTNER}, {"StringLike": {"sts:ExternalId": "ext-*-?"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "ext-42-z"}, "Allow"),
    ("StringLike '?' is exactly one character",
     trust({"AWS": PARTNER}, {"StringLike": {"sts:ExternalId": "ext-*-?"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "ext-42-zz"}, "ImplicitDeny"),
    ("StringNotEquals on an absent key is true (IAM documents it)",
     trust({"AWS": PARTNER}, {"StringNotEquals": {"sts:ExternalId": "x"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("StringNotEquals on the same value is false",
     trust({"AWS": PARTNER}, {"StringNotEquals": {"sts:ExternalId": "x"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "x"}, "ImplicitDeny"),
    ("StringNotLike: none of the patterns may match",
     trust({"AWS": PARTNER}, {"StringNotLike": {"sts:ExternalId": ["a*", "b*"]}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "bob"}, "ImplicitDeny"),
    ("StringNotLike: no pattern matches",
     trust({"AWS": PARTNER}, {"StringNotLike": {"sts:ExternalId": ["a*", "b*"]}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "carol"}, "Allow"),
    ("StringEqualsIfExists with the key absent",
     trust({"AWS": PARTNER}, {"StringEqualsIfExists": {"sts:ExternalId": "x"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("StringEqualsIfExists with a wrong value",
     trust({"AWS": PARTNER}, {"StringEqualsIfExists": {"sts:ExternalId": "x"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "y"}, "ImplicitDeny"),
    ("Null true: key must be absent",
     trust({"AWS": PARTNER}, {"Null": {"sts:ExternalId": "true"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "y"}, "ImplicitDeny"),
    ("Null false: key must be present",
     trust({"AWS": PARTNER}, {"Null": {"sts:ExternalId": "false"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "y"}, "Allow"),
    ("Null false with the key absent",
     trust({"AWS": PARTNER}, {"Null": {"sts:ExternalId": "false"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "ImplicitDeny"),
    # The shapes a careless trust policy takes: each is open to some probe.
    ("StringLike '*' with the key absent",
     trust({"AWS": PARTNER}, {"StringLike": {"sts:ExternalId": "*"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "ImplicitDeny"),
    ("StringLike '*' matches any external id",
     trust({"AWS": PARTNER}, {"StringLike": {"sts:ExternalId": "*"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "guess"}, "Allow"),
    ("StringLike '??*' matches any id of two characters or more",
     trust({"AWS": PARTNER}, {"StringLike": {"sts:ExternalId": "??*"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "ab"}, "Allow"),
    ("StringNotLike on an absent key is true",
     trust({"AWS": PARTNER}, {"StringNotLike": {"sts:ExternalId": "x*"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("StringNotEqualsIfExists with the key absent",
     trust({"AWS": PARTNER}, {"StringNotEqualsIfExists": {"sts:ExternalId": "x"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("StringNotEqualsIfExists with the listed value",
     trust({"AWS": PARTNER}, {"StringNotEqualsIfExists": {"sts:ExternalId": "x"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "x"}, "ImplicitDeny"),
    ("StringLikeIfExists with the key absent",
     trust({"AWS": PARTNER}, {"StringLikeIfExists": {"sts:ExternalId": "x*"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("StringLikeIfExists with a value that does not match",
     trust({"AWS": PARTNER}, {"StringLikeIfExists": {"sts:ExternalId": "x*"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "yz"}, "ImplicitDeny"),
    ("StringNotEquals with several values: none may match (first)",
     trust({"AWS": PARTNER}, {"StringNotEquals": {"sts:ExternalId": ["a1", "b2"]}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "a1"}, "ImplicitDeny"),
    ("StringNotEquals with several values: none may match (other)",
     trust({"AWS": PARTNER}, {"StringNotEquals": {"sts:ExternalId": ["a1", "b2"]}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "c3"}, "Allow"),
    ("Null true and false listed together accept presence and absence",
     trust({"AWS": PARTNER}, {"Null": {"sts:ExternalId": ["true", "false"]}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("a Deny on an absent id leaves every present id allowed",
     {"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Principal": {"AWS": PARTNER}, "Action": "sts:AssumeRole"},
         {"Effect": "Deny", "Principal": {"AWS": PARTNER}, "Action": "sts:AssumeRole",
          "Condition": {"Null": {"sts:ExternalId": "true"}}}]},
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "guess"}, "Allow"),
    ("a Deny on an absent id denies the absent id",
     {"Version": "2012-10-17", "Statement": [
         {"Effect": "Allow", "Principal": {"AWS": PARTNER}, "Action": "sts:AssumeRole"},
         {"Effect": "Deny", "Principal": {"AWS": PARTNER}, "Action": "sts:AssumeRole",
          "Condition": {"Null": {"sts:ExternalId": "true"}}}]},
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Deny"),
    ("two operators in one block must both hold",
     trust({"AWS": PARTNER}, {"StringLike": {"sts:ExternalId": "ab*"},
                              "StringNotEquals": {"sts:ExternalId": "abc"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "abc"}, "ImplicitDeny"),
    ("two operators in one block, both holding",
     trust({"AWS": PARTNER}, {"StringLike": {"sts:ExternalId": "ab*"},
                              "StringNotEquals": {"sts:ExternalId": "abc"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"sts:ExternalId": "abd"}, "Allow"),
    ("Bool",
     trust({"AWS": PARTNER}, {"Bool": {"aws:SecureTransport": "true"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"aws:SecureTransport": True}, "Allow"),
    ("Bool false against true",
     trust({"AWS": PARTNER}, {"Bool": {"aws:SecureTransport": "false"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {"aws:SecureTransport": "true"}, "ImplicitDeny"),
    ("Bool on an absent key is false",
     trust({"AWS": PARTNER}, {"Bool": {"aws:SecureTransport": "true"}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "ImplicitDeny"),
    ("aws:PrincipalAccount is filled in from the caller",
     trust({"AWS": "*"}, {"StringEquals": {"aws:PrincipalAccount": PARTNER}}),
     PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("aws:PrincipalAccount of another caller",
     trust({"AWS": "*"}, {"StringEquals": {"aws:PrincipalAccount": PARTNER}}),
     OTHER, OTHER_USER, "sts:AssumeRole", ROLE, {}, "ImplicitDeny"),
    ("principal by user ARN",
     trust({"AWS": PARTNER_USER}), PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("principal by another user ARN of the same account",
     trust({"AWS": "arn:aws:iam::%s:user/other" % PARTNER}), PARTNER, PARTNER_USER,
     "sts:AssumeRole", ROLE, {}, "ImplicitDeny"),
    ("principal by role ARN matches its sessions",
     trust({"AWS": "arn:aws:iam::%s:role/worker" % PARTNER}), PARTNER,
     "arn:aws:sts::%s:assumed-role/worker/i-123" % PARTNER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("principal by role ARN does not match another role's sessions",
     trust({"AWS": "arn:aws:iam::%s:role/worker" % PARTNER}), PARTNER,
     "arn:aws:sts::%s:assumed-role/other/i-123" % PARTNER, "sts:AssumeRole", ROLE, {}, "ImplicitDeny"),
    ("principal list",
     trust({"AWS": [OTHER, PARTNER]}), PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("Principal '*'",
     trust("*"), OTHER, OTHER_USER, "sts:AssumeRole", ROLE, {}, "Allow"),
    ("service principal does not match an AWS caller",
     trust({"Service": "ec2.amazonaws.com"}), PARTNER, PARTNER_USER, "sts:AssumeRole", ROLE, {},
     "ImplicitDeny"),
    ("service principal matches the service",
     trust({"Service": ["lambda.amazonaws.com", "ec2.amazonaws.com"]}), None, "ec2.amazonaws.com",
     "sts:AssumeRole", ROLE, {}, "Allow"),
    ("action names are case-insensitive",
     trust({"AWS": PARTNER}), PARTNER, PARTNER_USER, "STS:ASSUMEROLE", ROLE, {}, "Allow"),
    ("action wildcard",
     trust({"AWS": PARTNER}, action="sts:Assume*"), PARTNER, PARTNER_USER,
     "sts:AssumeRole", ROLE, {}, "Allow"),
    ("other action is not allowed",
     trust({"AWS": PARTNER}), PARTNER, PARTNER_USER, "sts:TagSession", ROLE, {}, "ImplicitDeny"),
]


def topic_policy(statements):
    return {"Version": "2008-10-17", "Id": "__default_policy_ID", "Statement": statements}


TOPIC_CASES = [
    ("allowed account may publish",
     topic_policy([{"Sid": "xacct-publish-0", "Effect": "Allow",
                    "Principal": {"AWS": [CUSTOMER, OTHER]}, "Action": "SNS:Publish",
                    "Resource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("account not listed",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": [OTHER]}, "Action": "SNS:Publish",
                    "Resource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
    ("explicit deny wins over allow",
     topic_policy([{"Effect": "Allow", "Principal": "*", "Action": "SNS:*", "Resource": "*"},
                   {"Effect": "Deny", "Principal": {"AWS": CUSTOMER}, "Action": "sns:publish",
                    "Resource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Deny"),
    ("deny for another account does not apply",
     topic_policy([{"Effect": "Allow", "Principal": "*", "Action": "SNS:*", "Resource": "*"},
                   {"Effect": "Deny", "Principal": {"AWS": OTHER}, "Action": "sns:publish",
                    "Resource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("default policy: owner with SourceOwner condition",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": "*"},
                    "Action": ["SNS:Publish", "SNS:Subscribe"], "Resource": TOPIC,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": PARTNER}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC,
     {"aws:SourceOwner": PARTNER}, "Allow"),
    ("SourceOwner condition, key absent",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "SNS:Publish",
                    "Resource": TOPIC,
                    "Condition": {"StringEquals": {"AWS:SourceOwner": PARTNER}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
    ("resource wildcard",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": "arn:aws:sns:us-east-1:%s:xacct-*" % PARTNER}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("resources are case-sensitive",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC.upper()}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
    ("NotResource",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "NotResource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
    ("NotAction",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "NotAction": "sns:Subscribe",
                    "Resource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("NotAction excludes the action",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "NotAction": "sns:P*",
                    "Resource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
    ("NotPrincipal with Deny spares the listed account",
     topic_policy([{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC},
                   {"Effect": "Deny", "NotPrincipal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("NotPrincipal with Deny hits everyone else",
     topic_policy([{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish", "Resource": TOPIC},
                   {"Effect": "Deny", "NotPrincipal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC}]),
     OTHER, "arn:aws:iam::%s:root" % OTHER, "sns:Publish", TOPIC, {}, "Deny"),
    ("ArnLike on aws:SourceArn",
     topic_policy([{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"},
                    "Action": "sns:Publish", "Resource": TOPIC,
                    "Condition": {"ArnLike": {"aws:SourceArn":
                                              "arn:aws:cloudformation:*:%s:stack/*" % CUSTOMER}}}]),
     None, "cloudformation.amazonaws.com", "sns:Publish", TOPIC,
     {"aws:SourceArn": "arn:aws:cloudformation:eu-west-1:%s:stack/s/1" % CUSTOMER}, "Allow"),
    ("ArnLike: each ARN part separately",
     topic_policy([{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"},
                    "Action": "sns:Publish", "Resource": TOPIC,
                    "Condition": {"ArnEquals": {"aws:SourceArn":
                                                "arn:aws:cloudformation:*:%s:stack/*" % CUSTOMER}}}]),
     None, "cloudformation.amazonaws.com", "sns:Publish", TOPIC,
     {"aws:SourceArn": "arn:aws:cloudformation:eu-west-1:%s:stack/s/1" % OTHER}, "ImplicitDeny"),
    ("aws:SourceAccount",
     topic_policy([{"Effect": "Allow", "Principal": {"Service": "cloudformation.amazonaws.com"},
                    "Action": "sns:Publish", "Resource": TOPIC,
                    "Condition": {"StringEquals": {"aws:SourceAccount": CUSTOMER}}}]),
     None, "cloudformation.amazonaws.com", "sns:Publish", TOPIC,
     {"aws:SourceAccount": OTHER}, "ImplicitDeny"),
    ("ForAnyValue:StringLike on a multi-valued key",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["team-*"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC,
     {"aws:TagKeys": ["env", "team-a"]}, "Allow"),
    ("ForAnyValue with the key absent is false",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAnyValue:StringLike": {"aws:TagKeys": ["team-*"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
    ("ForAllValues: every value must be listed",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC,
     {"aws:TagKeys": ["env", "owner"]}, "ImplicitDeny"),
    ("ForAllValues: all listed",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["env", "team"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC,
     {"aws:TagKeys": ["team", "env"]}, "Allow"),
    ("ForAllValues with the key absent is true",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": ["env"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("multi-valued key, single-valued negated operator: no value may match",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"StringNotEquals": {"aws:TagKeys": ["secret"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC,
     {"aws:TagKeys": ["env", "secret"]}, "ImplicitDeny"),
    ("ForAllValues:StringNotEquals: every value avoids the list",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAllValues:StringNotEquals": {"aws:TagKeys": ["secret"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC,
     {"aws:TagKeys": ["env", "team"]}, "Allow"),
    ("ForAnyValue:StringNotEquals with the key absent is false",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAnyValue:StringNotEquals": {"aws:TagKeys": ["secret"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
    ("ForAnyValue:StringEqualsIfExists with the key absent is true",
     topic_policy([{"Effect": "Allow", "Principal": {"AWS": CUSTOMER}, "Action": "sns:Publish",
                    "Resource": TOPIC,
                    "Condition": {"ForAnyValue:StringEqualsIfExists": {"aws:TagKeys": ["x"]}}}]),
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("single Statement object (not a list)",
     {"Version": "2012-10-17", "Statement": {"Effect": "Allow", "Principal": {"AWS": CUSTOMER},
                                             "Action": "sns:Publish", "Resource": TOPIC}},
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "Allow"),
    ("empty policy denies implicitly",
     {"Version": "2012-10-17", "Statement": []},
     CUSTOMER, "arn:aws:iam::%s:root" % CUSTOMER, "sns:Publish", TOPIC, {}, "ImplicitDeny"),
]


class EvaluateTest(unittest.TestCase):
    def run_cases(self, cases):
        for name, doc, acct, arn, action, resource, ctx, want in cases:
            with self.subTest(name):
                got = P.evaluate(doc, principal_account=acct, principal_arn=arn, action=action,
                                 resource=resource, context=ctx)
                self.assertEqual(got, want, name)
                # The same document as JSON text gives the same answer.
                got2 = P.evaluate(json.dumps(doc), principal_account=acct, principal_arn=arn,
                                  action=action, resource=resource, context=ctx)
                self.assertEqual(got2, want, name + " (JSON text)")

    def test_trust_policies(self):
        self.run_cases(TRUST_CASES)

    def test_topic_policies(self):
        self.run_cases(TOPIC_CASES)

    def test_case_tables_cover_every_outcome(self):
        outcomes = {c[-1] for c in TRUST_CASES + TOPIC_CASES}
        self.assertEqual(outcomes, {"Allow", "Deny", "ImplicitDeny"})


class GlobTest(unittest.TestCase):
    def test_glob(self):
        self.assertTrue(P.glob_match("a*c", "abbbc"))
        self.assertTrue(P.glob_match("a*c", "ac"))
        self.assertFalse(P.glob_match("a?c", "ac"))
        self.assertFalse(P.glob_match("a.c", "abc"))  # '.' is literal
        self.assertFalse(P.glob_match("abc", "ABC"))
        self.assertTrue(P.glob_match("abc", "ABC", ignore_case=True))

    def test_arn_match(self):
        self.assertTrue(P.arn_match("arn:aws:iam::*:role/*", "arn:aws:iam::1:role/x"))
        self.assertFalse(P.arn_match("arn:aws:iam::*:role/*", "arn:aws:iam::1:user/x"))
        self.assertFalse(P.arn_match("arn:aws:iam::1:role/x", "not-an-arn"))


class ValidateTest(unittest.TestCase):
    def bad(self, doc, kind="trust", msg=None):
        with self.assertRaises(P.MalformedPolicy) as cm:
            P.validate(doc, kind)
        if msg is not None:
            self.assertIn(msg, str(cm.exception))

    def test_valid_trust_policy(self):
        doc = trust({"AWS": "arn:aws:iam::%s:root" % PARTNER}, EXT)
        self.assertEqual(P.validate(json.dumps(doc), "trust"), doc)

    def test_invalid_json(self):
        self.bad("{not json", msg="invalid Json")

    def test_trust_policy_may_not_name_a_resource(self):
        doc = trust({"AWS": PARTNER})
        doc["Statement"][0]["Resource"] = "*"
        self.bad(doc, msg="Has prohibited field Resource")

    def test_principal_required(self):
        self.bad({"Version": "2012-10-17",
                  "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole"}]})

    def test_bad_effect_and_version(self):
        self.bad(trust({"AWS": PARTNER}, effect="Permit"))
        doc = trust({"AWS": PARTNER})
        doc["Version"] = "2020-01-01"
        self.bad(doc, msg="version")

    def test_unknown_element(self):
        doc = trust({"AWS": PARTNER})
        doc["Statement"][0]["Actions"] = "sts:AssumeRole"
        self.bad(doc)

    def test_invalid_principal(self):
        self.bad(trust({"AWS": "12345"}), msg="Invalid principal")
        self.bad(trust({"AWS": "arn:aws:iam::111111111111:group/x"}), msg="Invalid principal")
        self.bad(trust({"Service": "not a service"}), msg="Invalid principal")

    def test_unknown_condition_operator(self):
        self.bad(trust({"AWS": PARTNER}, {"StringEqualz": {"sts:ExternalId": "x"}}),
                 msg="Invalid Condition type")
        self.bad(trust({"AWS": PARTNER}, {"ForSomeValues:StringEquals": {"sts:ExternalId": "x"}}))

    def test_action_needs_a_vendor(self):
        self.bad(trust({"AWS": PARTNER}, action="AssumeRole"), msg="prefaced by a vendor")

    def test_resource_policy_needs_resource(self):
        self.bad(topic_policy([{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish"}]),
                 kind="resource", msg="resources")
        P.validate(topic_policy([{"Effect": "Allow", "Principal": "*", "Action": "sns:Publish",
                                  "Resource": TOPIC}]), "resource")


if __name__ == "__main__":
    unittest.main()
