"""Link -> deposit -> watch -> return, over grpcio alone, against a sandbox fundingd."""

import sys
import time
import uuid

import grpc

from funding.v1 import (
    bank_link_pb2,
    bank_link_pb2_grpc,
    sandbox_pb2,
    sandbox_pb2_grpc,
    transfer_pb2,
    transfer_pb2_grpc,
)


def main(address: str) -> None:
    channel = grpc.insecure_channel(address)
    links = bank_link_pb2_grpc.BankLinkServiceStub(channel)
    transfers = transfer_pb2_grpc.TransferServiceStub(channel)
    sandbox = sandbox_pb2_grpc.SandboxServiceStub(channel)

    token = sandbox.CreatePublicToken(sandbox_pb2.CreatePublicTokenRequest())
    checking = next(a for a in token.accounts if a.subtype == "checking")
    account_id = str(uuid.uuid4())
    link = links.CreateBankLink(
        bank_link_pb2.CreateBankLinkRequest(
            account_id=account_id,
            public_token=token.public_token,
            plaid_account_id=checking.account_id,
            nickname="Everyday checking",
            idempotency_key=str(uuid.uuid4()),
        )
    ).bank_link
    print(f"link {link.id}: {bank_link_pb2.BankLinkStatus.Name(link.status)}")
    while link.status != bank_link_pb2.BANK_LINK_STATUS_APPROVED:
        time.sleep(0.2)
        link = links.GetBankLink(bank_link_pb2.GetBankLinkRequest(id=link.id)).bank_link
    print(f"link {link.id}: APPROVED")

    deposit = transfers.CreateTransfer(
        transfer_pb2.CreateTransferRequest(
            account_id=account_id,
            bank_link_id=link.id,
            amount="100.00",
            direction=transfer_pb2.TRANSFER_DIRECTION_DEPOSIT,
            idempotency_key=str(uuid.uuid4()),
        )
    ).transfer
    print(f"deposit {deposit.id}: {transfer_pb2.TransferStatus.Name(deposit.status)}")

    def watch_until(wanted, after_event_id="0"):
        request = transfer_pb2.WatchTransfersRequest(
            account_id=account_id, transfer_id=deposit.id, after_event_id=after_event_id
        )
        for change in transfers.WatchTransfers(request, timeout=60):
            status = change.transfer.status
            print(f"  {transfer_pb2.TransferStatus.Name(status)}")
            if status == wanted:
                return change
        raise SystemExit(f"the watch ended before {transfer_pb2.TransferStatus.Name(wanted)}")

    complete = watch_until(transfer_pb2.TRANSFER_STATUS_COMPLETE)
    sandbox.SimulateTransfer(
        sandbox_pb2.SimulateTransferRequest(
            transfer_id=deposit.id, status="RETURNED", ach_return_code="R01"
        )
    )
    returned = watch_until(transfer_pb2.TRANSFER_STATUS_RETURNED, complete.event_id).transfer
    print(f"returned: {returned.ach_return_code} {returned.ach_return_description}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1:50051")
