"""The ACH funding service, specified from a Python grpcio client.

run.sh starts the real fundingd binary in sandbox mode (emulated Plaid and Alpaca, its own SQLite
database) and runs this module with `python -m unittest`, with FUNDINGD_ADDR=host:port and the stubs
generated from proto/funding/v1/*.proto on PYTHONPATH. Every call goes through `Client.call`, which
checks that the answer (success or error) carries an x-request-id. Waits are bounded polls; no test
asserts on elapsed time.
"""

import os
import time
import unittest
import uuid

import grpc
from google.protobuf import descriptor_pool
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from grpc_status import rpc_status

from funding.v1 import (
    bank_link_pb2,
    bank_link_pb2_grpc,
    bank_transfer_pb2,
    bank_transfer_pb2_grpc,
    risk_pb2,
    risk_pb2_grpc,
    sandbox_pb2,
    sandbox_pb2_grpc,
    transfer_pb2,
)

ADDRESS = os.environ.get("FUNDINGD_ADDR", "127.0.0.1:50051")
CALL_TIMEOUT_S = 10.0
POLL_LIMIT_S = 30.0
POLL_INTERVAL_S = 0.1
REQUEST_ID = "x-request-id"

Status = bank_link_pb2.BankLinkStatus


def request_id_of(call) -> str | None:
    """The x-request-id the server put in the initial or the trailing metadata, if any."""
    for metadata in (call.initial_metadata() or (), call.trailing_metadata() or ()):
        for key, value in metadata:
            if key == REQUEST_ID:
                return value
    return None


def status_details(error: grpc.RpcError) -> dict:
    """The google.rpc.Status details of a failed call, keyed by message type name (one per type)."""
    status = rpc_status.from_call(error)
    if status is None:
        raise AssertionError(f"{error.code().name} carries no grpc-status-details-bin: {error.details()}")
    details = {}
    for any_detail in status.details:
        for message_type in (
            error_details_pb2.ErrorInfo,
            error_details_pb2.BadRequest,
            error_details_pb2.PreconditionFailure,
            error_details_pb2.RetryInfo,
        ):
            if any_detail.Is(message_type.DESCRIPTOR):
                message = message_type()
                any_detail.Unpack(message)
                details[message_type.DESCRIPTOR.name] = message
    return details


class Client:
    """The stubs over one channel, and the one way calls are made."""

    def __init__(self, test: unittest.TestCase, channel: grpc.Channel):
        self.test = test
        self.links = bank_link_pb2_grpc.BankLinkServiceStub(channel)
        self.bank_transfers = bank_transfer_pb2_grpc.BankTransferServiceStub(channel)
        self.sandbox = sandbox_pb2_grpc.SandboxServiceStub(channel)
        self.risk = risk_pb2_grpc.RiskServiceStub(channel)
        self.health = health_pb2_grpc.HealthStub(channel)

    def call(self, method, request, metadata=()):
        """Calls a unary method; asserts the answer, success or error, carries an x-request-id."""
        try:
            response, call = method.with_call(request, timeout=CALL_TIMEOUT_S, metadata=metadata)
        except grpc.RpcError as error:
            self.test.assertTrue(
                request_id_of(error), f"the {error.code().name} answer has no {REQUEST_ID}"
            )
            raise
        self.test.assertTrue(request_id_of(call), f"the answer to {type(request).__name__} has no {REQUEST_ID}")
        return response

    def call_failing(self, method, request, metadata=()) -> grpc.RpcError:
        """Calls a unary method that must fail; returns the error."""
        with self.test.assertRaises(grpc.RpcError) as raised:
            self.call(method, request, metadata)
        return raised.exception

    def new_public_token(self) -> tuple[str, str]:
        """A fresh sandbox public token and the id of the checking account behind it."""
        answer = self.call(self.sandbox.CreatePublicToken, sandbox_pb2.CreatePublicTokenRequest())
        self.test.assertTrue(answer.public_token)
        checking = [account for account in answer.accounts if account.subtype == "checking"]
        self.test.assertEqual(1, len(checking), f"accounts: {answer.accounts}")
        return answer.public_token, checking[0].account_id

    def create_link(self, account_id, public_token, plaid_account_id, nickname, key):
        return self.call(
            self.links.CreateBankLink,
            bank_link_pb2.CreateBankLinkRequest(
                account_id=account_id,
                public_token=public_token,
                plaid_account_id=plaid_account_id,
                nickname=nickname,
                idempotency_key=key,
            ),
        ).bank_link

    def get_link(self, link_id):
        return self.call(self.links.GetBankLink, bank_link_pb2.GetBankLinkRequest(id=link_id)).bank_link

    def wait_for_status(self, link_id, wanted):
        """Polls GetBankLink until the link has the wanted status; fails after POLL_LIMIT_S."""
        deadline = time.monotonic() + POLL_LIMIT_S
        link = self.get_link(link_id)
        while link.status != wanted and time.monotonic() < deadline:
            time.sleep(POLL_INTERVAL_S)
            link = self.get_link(link_id)
        self.test.assertEqual(
            Status.Name(wanted),
            Status.Name(link.status),
            f"link {link_id} never reached {Status.Name(wanted)}; last seen: {link}",
        )
        return link


class FundingServiceSpecification(unittest.TestCase):
    channel: grpc.Channel

    @classmethod
    def setUpClass(cls):
        cls.channel = grpc.insecure_channel(ADDRESS)
        grpc.channel_ready_future(cls.channel).result(timeout=CALL_TIMEOUT_S)

    @classmethod
    def tearDownClass(cls):
        cls.channel.close()

    def setUp(self):
        self.client = Client(self, self.channel)

    # --- discovery ------------------------------------------------------------------------------

    def test_reflection_lists_every_service(self):
        database = ProtoReflectionDescriptorDatabase(self.channel)
        services = set(database.get_services())
        for wanted in (
            "funding.v1.BankLinkService",
            "funding.v1.TransferService",
            "funding.v1.BankTransferService",
            "funding.v1.SandboxService",
            "funding.v1.RiskService",
            "grpc.health.v1.Health",
        ):
            self.assertIn(wanted, services)
        # The served descriptors are complete: a client can build the service, imports included.
        pool = descriptor_pool.DescriptorPool(database)
        bank_links = pool.FindServiceByName("funding.v1.BankLinkService")
        self.assertEqual(
            {"CreateLinkToken", "CreateBankLink", "GetBankLink", "ListBankLinks", "DeleteBankLink"},
            {method.name for method in bank_links.methods},
        )
        risk = pool.FindServiceByName("funding.v1.RiskService")
        self.assertEqual(
            {
                "GetAccountFunding",
                "SetAccountLimits",
                "FreezeAccount",
                "UnfreezeAccount",
                "ListReviews",
                "ApproveReview",
                "RejectReview",
                "ListAuditEvents",
                "GetReturnRates",
            },
            {method.name for method in risk.methods},
        )
        created_at = pool.FindMessageTypeByName("funding.v1.BankLink").fields_by_name["created_at"]
        self.assertEqual("google.protobuf.Timestamp", created_at.message_type.full_name)

        # v1 has the same messages as v1alpha under another package name, so v1alpha's generated
        # messages serialize v1 requests and answers.
        reflection_v1 = self.channel.stream_stream(
            "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        answers = list(
            reflection_v1(
                iter([reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=CALL_TIMEOUT_S
            )
        )
        self.assertEqual(1, len(answers))
        self.assertEqual("list_services_response", answers[0].WhichOneof("message_response"))
        services_v1 = {service.name for service in answers[0].list_services_response.service}
        # Each reflection service lists itself, not its other version; everything else is the same.
        self.assertIn("grpc.reflection.v1.ServerReflection", services_v1)
        self.assertEqual(
            services - {"grpc.reflection.v1alpha.ServerReflection"},
            services_v1 - {"grpc.reflection.v1.ServerReflection"},
        )

    def test_health_is_serving(self):
        for service in ("", "funding.v1.BankLinkService"):
            with self.subTest(service=service):
                answer = self.client.call(
                    self.client.health.Check, health_pb2.HealthCheckRequest(service=service)
                )
                self.assertEqual(health_pb2.HealthCheckResponse.SERVING, answer.status)

    # --- the bank link lifecycle ----------------------------------------------------------------

    def test_a_bank_link_is_created_approved_listed_and_deleted(self):
        account_id = str(uuid.uuid4())
        public_token, checking = self.client.new_public_token()

        created = self.client.create_link(account_id, public_token, checking, "Everyday checking", str(uuid.uuid4()))
        self.assertTrue(uuid.UUID(created.id))
        self.assertEqual(account_id, created.account_id)
        self.assertEqual(checking, created.plaid_account_id)
        self.assertEqual("Everyday checking", created.nickname)
        self.assertIn(created.status, (Status.BANK_LINK_STATUS_CREATING, Status.BANK_LINK_STATUS_QUEUED,
                                       Status.BANK_LINK_STATUS_APPROVED))

        approved = self.client.wait_for_status(created.id, Status.BANK_LINK_STATUS_APPROVED)
        self.assertTrue(uuid.UUID(approved.ach_relationship_id))
        self.assertEqual(account_id, approved.account_id)

        listed = self.client.call(
            self.client.links.ListBankLinks, bank_link_pb2.ListBankLinksRequest(account_id=account_id)
        )
        self.assertEqual([created.id], [link.id for link in listed.bank_links])
        self.assertEqual(Status.BANK_LINK_STATUS_APPROVED, listed.bank_links[0].status)
        self.assertEqual("", listed.next_page_token)

        deleted = self.client.call(
            self.client.links.DeleteBankLink, bank_link_pb2.DeleteBankLinkRequest(id=created.id)
        ).bank_link
        self.assertEqual(created.id, deleted.id)
        self.assertIn(deleted.status, (Status.BANK_LINK_STATUS_CANCEL_REQUESTED, Status.BANK_LINK_STATUS_CANCELED))

        self.client.wait_for_status(created.id, Status.BANK_LINK_STATUS_CANCELED)

    # --- the Plaid processor rail, scripted over gRPC alone ---------------------------------------

    def test_a_bank_transfer_is_created_posted_and_reversed_over_grpc_alone(self):
        bt = bank_transfer_pb2
        token = self.client.call(
            self.client.sandbox.CreateProcessorToken, sandbox_pb2.CreateProcessorTokenRequest()
        ).processor_token
        self.assertTrue(token.startswith("processor-sandbox-"))
        request = bt.CreateBankTransferRequest(
            idempotency_key=str(uuid.uuid4()),
            processor_token=token,
            type=bt.BANK_TRANSFER_TYPE_DEBIT,
            network=bt.BANK_TRANSFER_NETWORK_ACH,
            amount="19.99",
            iso_currency_code="USD",
            description="Deposit",
            ach_class=bt.ACH_CLASS_WEB,
            user=bt.BankTransferUser(legal_name="Jane Doe", email_address="jane@example.com"),
            metadata={"order": "42"},
        )
        created = self.client.call(self.client.bank_transfers.CreateBankTransfer, request).bank_transfer
        self.assertEqual(bt.BANK_TRANSFER_STATUS_PENDING, created.status)
        self.assertTrue(created.provider_bank_transfer_id)
        self.assertTrue(created.cancellable)
        self.assertEqual("42", created.metadata["order"])
        again = self.client.call(self.client.bank_transfers.CreateBankTransfer, request).bank_transfer
        self.assertEqual(created.id, again.id, "the same key answers the same transfer")

        def wait_for(wanted):
            deadline = time.monotonic() + POLL_LIMIT_S
            while True:
                transfer = self.client.call(
                    self.client.bank_transfers.GetBankTransfer, bt.GetBankTransferRequest(id=created.id)
                ).bank_transfer
                if transfer.status == wanted or time.monotonic() > deadline:
                    self.assertEqual(bt.BankTransferStatus.Name(wanted), bt.BankTransferStatus.Name(transfer.status))
                    return transfer
                time.sleep(POLL_INTERVAL_S)

        self.client.call(
            self.client.sandbox.SimulateBankTransfer,
            sandbox_pb2.SimulateBankTransferRequest(bank_transfer_id=created.id, event_type="posted"),
        )
        wait_for(bt.BANK_TRANSFER_STATUS_POSTED)
        self.client.call(
            self.client.sandbox.SimulateBankTransfer,
            sandbox_pb2.SimulateBankTransferRequest(
                bank_transfer_id=created.id, event_type="reversed", ach_return_code="R01"
            ),
        )
        reversed_ = wait_for(bt.BANK_TRANSFER_STATUS_REVERSED)
        self.assertEqual("R01", reversed_.failure_reason.ach_return_code)

        error = self.client.call_failing(
            self.client.bank_transfers.CancelBankTransfer, bt.CancelBankTransferRequest(id=created.id)
        )
        self.assertEqual(grpc.StatusCode.FAILED_PRECONDITION, error.code())

        bad = bt.CreateBankTransferRequest()
        bad.CopyFrom(request)
        bad.idempotency_key = str(uuid.uuid4())
        bad.description = "much too long"
        error = self.client.call_failing(self.client.bank_transfers.CreateBankTransfer, bad)
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.code())
        fields = [v.field for v in status_details(error)["BadRequest"].field_violations]
        self.assertIn("description", fields)

    # --- the risk controls (open sandbox: every check off, every RiskService RPC served) ----------

    def test_an_account_is_frozen_and_unfrozen_with_its_audit_trail(self):
        account_id = str(uuid.uuid4())
        risk = self.client.risk

        funding = self.client.call(risk.GetAccountFunding, risk_pb2.GetAccountFundingRequest(account_id=account_id))
        self.assertEqual(account_id, funding.account_id)
        self.assertFalse(funding.frozen)
        self.assertEqual(
            [
                (risk_pb2.FUNDING_RAIL_ALPACA, transfer_pb2.TRANSFER_DIRECTION_DEPOSIT),
                (risk_pb2.FUNDING_RAIL_ALPACA, transfer_pb2.TRANSFER_DIRECTION_WITHDRAWAL),
            ],
            [(flow.rail, flow.direction) for flow in funding.flows],
        )
        for flow in funding.flows:
            self.assertFalse(flow.overridden)
            self.assertEqual("0.00", flow.used_today)
        self.assertEqual("0.00", funding.pending_deposits)

        reason = "python e2e: suspected takeover"
        frozen = self.client.call(
            risk.FreezeAccount, risk_pb2.FreezeAccountRequest(account_id=account_id, reason=reason)
        )
        self.assertTrue(frozen.frozen)
        self.assertTrue(frozen.changed)
        self.assertEqual(reason, frozen.frozen_reason)
        again = self.client.call(
            risk.FreezeAccount, risk_pb2.FreezeAccountRequest(account_id=account_id, reason=reason)
        )
        self.assertTrue(again.frozen)
        self.assertFalse(again.changed, "freezing a frozen account changes nothing")

        funding = self.client.call(risk.GetAccountFunding, risk_pb2.GetAccountFundingRequest(account_id=account_id))
        self.assertTrue(funding.frozen)
        self.assertEqual(reason, funding.frozen_reason)
        self.assertEqual("anonymous", funding.frozen_by)
        self.assertTrue(funding.HasField("frozen_at"))

        unfrozen = self.client.call(
            risk.UnfreezeAccount,
            risk_pb2.UnfreezeAccountRequest(account_id=account_id, reason="python e2e: verified"),
        )
        self.assertFalse(unfrozen.frozen)
        self.assertTrue(unfrozen.changed)
        funding = self.client.call(risk.GetAccountFunding, risk_pb2.GetAccountFundingRequest(account_id=account_id))
        self.assertFalse(funding.frozen)

        trail = self.client.call(
            risk.ListAuditEvents, risk_pb2.ListAuditEventsRequest(account_id=account_id)
        ).events
        self.assertEqual(["account.frozen", "account.unfrozen"], [event.action for event in trail])
        for event in trail:
            self.assertEqual("anonymous", event.actor)
            self.assertEqual(f"accounts/{account_id}", event.resource)
            self.assertEqual(64, len(event.hash))
        self.assertEqual(trail[0].hash, trail[1].previous_hash)

        error = self.client.call_failing(
            risk.FreezeAccount, risk_pb2.FreezeAccountRequest(account_id=account_id, reason=" ")
        )
        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.code())
        fields = [v.field for v in status_details(error)["BadRequest"].field_violations]
        self.assertEqual(["reason"], fields)

    def test_no_review_is_open_and_an_unknown_one_is_not_found(self):
        reviews = self.client.call(
            self.client.risk.ListReviews, risk_pb2.ListReviewsRequest(state=risk_pb2.REVIEW_STATE_OPEN)
        )
        self.assertEqual([], list(reviews.reviews))
        error = self.client.call_failing(
            self.client.risk.ApproveReview,
            risk_pb2.ApproveReviewRequest(review_id=str(uuid.uuid4()), note="python e2e"),
        )
        self.assertEqual(grpc.StatusCode.NOT_FOUND, error.code())
        self.assertEqual("NOT_FOUND", status_details(error)["ErrorInfo"].reason)

    # --- idempotency ----------------------------------------------------------------------------

    def test_the_same_idempotency_key_returns_the_same_link(self):
        account_id = str(uuid.uuid4())
        public_token, checking = self.client.new_public_token()
        key = str(uuid.uuid4())

        first = self.client.create_link(account_id, public_token, checking, "Savings goal", key)
        again = self.client.create_link(account_id, public_token, checking, "Savings goal", key)

        self.assertEqual(first.id, again.id)
        self.assertEqual(first.created_at, again.created_at)
        listed = self.client.call(
            self.client.links.ListBankLinks, bank_link_pb2.ListBankLinksRequest(account_id=account_id)
        )
        self.assertEqual([first.id], [link.id for link in listed.bank_links])

    def test_a_reused_key_with_another_payload_is_refused(self):
        account_id = str(uuid.uuid4())
        public_token, checking = self.client.new_public_token()
        key = str(uuid.uuid4())
        first = self.client.create_link(account_id, public_token, checking, "First nickname", key)

        error = self.client.call_failing(
            self.client.links.CreateBankLink,
            bank_link_pb2.CreateBankLinkRequest(
                account_id=account_id,
                public_token=public_token,
                plaid_account_id=checking,
                nickname="Another nickname",
                idempotency_key=key,
            ),
        )

        self.assertEqual(grpc.StatusCode.FAILED_PRECONDITION, error.code())
        details = status_details(error)
        self.assertIn("ErrorInfo", details, f"details: {details}")
        self.assertEqual("IDEMPOTENCY_KEY_REUSED", details["ErrorInfo"].reason)
        self.assertEqual("funding.v1", details["ErrorInfo"].domain)
        self.assertEqual("nickname", details["ErrorInfo"].metadata["field"])
        # The first link is untouched.
        self.assertEqual("First nickname", self.client.get_link(first.id).nickname)

    # --- validation -----------------------------------------------------------------------------

    def test_bad_input_is_refused_naming_each_field(self):
        _, checking = self.client.new_public_token()

        error = self.client.call_failing(
            self.client.links.CreateBankLink,
            bank_link_pb2.CreateBankLinkRequest(
                account_id="not-a-uuid",
                public_token="",
                plaid_account_id=checking,
                nickname="Checking",
                idempotency_key="k" * 51,
            ),
        )

        self.assertEqual(grpc.StatusCode.INVALID_ARGUMENT, error.code())
        details = status_details(error)
        self.assertIn("BadRequest", details, f"details: {details}")
        fields = [violation.field for violation in details["BadRequest"].field_violations]
        self.assertCountEqual(["account_id", "public_token", "idempotency_key"], fields)
        for violation in details["BadRequest"].field_violations:
            self.assertTrue(violation.description, f"{violation.field} has no description")
        self.assertEqual("INVALID_ARGUMENT", details["ErrorInfo"].reason)

    # --- request ids ----------------------------------------------------------------------------

    def test_every_answer_carries_a_request_id(self):
        calls = {
            "a success": lambda: self.client.links.ListBankLinks.with_call(
                bank_link_pb2.ListBankLinksRequest(account_id=str(uuid.uuid4())), timeout=CALL_TIMEOUT_S
            ),
            "an error": lambda: self.client.links.GetBankLink.with_call(
                bank_link_pb2.GetBankLinkRequest(id=str(uuid.uuid4())), timeout=CALL_TIMEOUT_S
            ),
            "a health check": lambda: self.client.health.Check.with_call(
                health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT_S
            ),
        }
        seen = set()
        for name, make_call in calls.items():
            with self.subTest(call=name):
                try:
                    _, call = make_call()
                except grpc.RpcError as error:
                    self.assertEqual(grpc.StatusCode.NOT_FOUND, error.code())
                    call = error
                request_id = request_id_of(call)
                self.assertTrue(request_id)
                seen.add(request_id)
        self.assertEqual(len(calls), len(seen), f"request ids are not distinct: {seen}")

    def test_a_request_id_the_client_sends_is_echoed_back(self):
        sent = f"python-e2e-{uuid.uuid4()}"
        _, call = self.client.health.Check.with_call(
            health_pb2.HealthCheckRequest(service=""), timeout=CALL_TIMEOUT_S, metadata=((REQUEST_ID, sent),)
        )
        self.assertEqual(sent, request_id_of(call))

        sent_on_error = f"python-e2e-{uuid.uuid4()}"
        error = self.client.call_failing(
            self.client.links.GetBankLink,
            bank_link_pb2.GetBankLinkRequest(id=str(uuid.uuid4())),
            metadata=((REQUEST_ID, sent_on_error),),
        )
        self.assertEqual(grpc.StatusCode.NOT_FOUND, error.code())
        self.assertEqual(sent_on_error, request_id_of(error))


if __name__ == "__main__":
    unittest.main(verbosity=2)
