namespace Qubrid.FaultDriver;

/// <summary>One operation the driver sent, and what (if anything) the API acknowledged.</summary>
public sealed record OpRecord(
    string Kind,            // "inference" | "topup"
    string WalletId,
    string IdempotencyKey,
    int Status,             // HTTP status, 0 when no answer
    string? Code,           // problem code when not 2xx
    bool ProblemJson,       // the error came as application/problem+json
    long? Seq,              // inference: the ledger seq acknowledged
    decimal? Amount,        // acknowledged amount (USD)
    string? PaymentId,      // top-up: the payment acknowledged
    double SentAt,          // unix seconds
    double AnsweredAt,
    string? RetryAfter = null) // the Retry-After header of an answer that has one
{
    public bool Acknowledged => Status is >= 200 and < 300;
}

public sealed record SessionRecord(string SessionId, string WalletId, string InstanceType, bool Started, bool Stopped);
