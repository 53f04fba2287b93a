"""The IAM action a signed request is authorized as ("sqs:ReceiveMessage",
"sns:GetTopicAttributes", "s3:PutObject", ...), recorded with every request
so tests can check an identity policy against the calls a program really
made.

JSON protocol: the X-Amz-Target operation; query protocol: the Action
parameter (body or query string); S3 REST: from the method and whether the
path names an object or a bucket.  SQS's batch operations are authorized as
their single-message action, as IAM documents it (DeleteMessageBatch needs
sqs:DeleteMessage).
"""

_BATCH = {"DeleteMessageBatch": "DeleteMessage",
          "ChangeMessageVisibilityBatch": "ChangeMessageVisibility",
          "SendMessageBatch": "SendMessage"}
_S3_OBJECT = {"PUT": "PutObject", "DELETE": "DeleteObject", "GET": "GetObject",
              "HEAD": "GetObject", "POST": "PutObject"}
_S3_BUCKET = {"PUT": "CreateBucket", "DELETE": "DeleteBucket", "GET": "ListBucket",
              "HEAD": "ListBucket"}


def _query_action(req):
    for src in (req.query_list(), req.form_list()
                if "form-urlencoded" in req.headers.get("content-type", "") else ()):
        for k, v in src:
            if k == "Action":
                return v
    return None


def iam_action(req):
    """"<service>:<Operation>" for an authenticated request, or None."""
    service = req.service
    if not service:
        return None
    prefix = "cloudformation" if service == "cfn" else service
    target = req.headers.get("x-amz-target")
    if target and "." in target:
        op = target.rsplit(".", 1)[1]
        return "%s:%s" % (prefix, _BATCH.get(op, op))
    if service == "s3":
        bucket = req.aws_host.bucket if getattr(req, "aws_host", None) is not None else None
        parts = [p for p in req.path.split("?", 1)[0].split("/") if p]
        has_key = len(parts) >= 1 if bucket else len(parts) >= 2
        has_bucket = bool(bucket) or len(parts) >= 1
        if has_key:
            return "s3:" + _S3_OBJECT.get(req.method, req.method)
        if has_bucket:
            return "s3:" + _S3_BUCKET.get(req.method, req.method)
        return "s3:ListAllMyBuckets"
    op = _query_action(req)
    return "%s:%s" % (prefix, op) if op else None
