"""xacctd against a DeleteMessageBatch that partly fails on SQS's side: an
entry answered with SenderFault false (InternalError) is sent again, as AWS
asks of batch callers, so the answered message is deleted now rather than
reappearing after its visibility timeout to be answered a second time."""
import unittest

from harness import SharedWorkerTest


class BatchEntryFaultTest(SharedWorkerTest):
    # A visibility timeout longer than the test waits: a message left
    # undeleted could not drain in time.
    env_options = {"visibility_timeout": 120}

    def test_entry_failed_on_sqs_side_is_deleted_by_a_second_batch(self):
        env, acct = self.env, "400000000301"
        ext = env.seed_customer(acct)
        env.ctl("DELETE", "/_fake/records")
        env.ctl("POST", "/_fake/sqs/config", {"entry_error_count": 1})
        stack = env.create_stack(acct, env.template(acct, ext))
        stack = env.wait_stack(stack["stack_id"], timeout=120)
        self.assertEqual(stack["status"], "CREATE_COMPLETE", stack.get("status_reason"))
        env.wait_queue_empty(timeout=60)
        faults = env.ctl("GET", "/_fake/records?kind=sqs.entry_fault")["records"]
        self.assertEqual([f["op"] for f in faults], ["DeleteMessageBatch"])
        self.assertNotIn(b"sqs.delete_failed", env.worker_log(self.worker))
        self.assertEqual(len([a for a in env.answers() if a["stack_id"] == stack["stack_id"]]),
                         1, "answered once")


if __name__ == "__main__":
    unittest.main()
