# The fuzz targets: fuzz/fuzz_<name>.c, seeds in fuzz/corpus/<name>/.
# Shared by the fuzz build (fuzz/CMakeLists.txt) and the CTest registration.
set(XACCT_FUZZ_TARGETS
  sqs sns_envelope cfn arn url_hostpat sigv4 aws_xml creds_json codec config metrics_http
  httpd jdoc api api_tokens store_reply)
