namespace Qubrid.Core;

/// <summary>One operation a wallet decides in a batch (see <see cref="WalletBatch"/>).</summary>
public abstract record WalletOperation
{
    /// <summary>A short name for metrics and logs.</summary>
    public abstract string Name { get; }

    /// <summary>The idempotency key of a money operation; null for the others.</summary>
    public virtual string? Key => null;

    /// <summary>What makes two requests under one key "the same request".</summary>
    public virtual string? Fingerprint => null;

    /// <summary>The session a session operation is about.</summary>
    public virtual string? SessionId => null;

    /// <summary>The hold an operation settles or charges within.</summary>
    public virtual long? HoldNumber => null;
}

/// <summary>Creates the wallet (and grants the sign-up bonus) once; a repeat is a replay.</summary>
public sealed record CreateWallet : WalletOperation
{
    public override string Name => "Create";

    /// <summary>An organization's wallet: created without the sign-up bonus (docs/rules.md#R-ORG-1).</summary>
    public bool WithoutBonus { get; init; }
}

/// <summary>Nothing to change: answered once everything queued before it is decided and committed (reads, expiry).</summary>
public sealed record Settle : WalletOperation
{
    public override string Name => "Maintenance";
}

public sealed record CreditOperation(CreditRequest Request) : WalletOperation
{
    public override string Name => "Credit";
    public override string Key => Request.IdempotencyKey;
    public override string Fingerprint { get; } = RequestRules.Fingerprint(Request);
}

public sealed record DebitOperation(DebitRequest Request) : WalletOperation
{
    public override string Name => "Debit";
    public override string Key => Request.IdempotencyKey;
    public override string Fingerprint { get; } = RequestRules.Fingerprint(Request);
}

/// <summary>An inference query at its exact cost; the amount is decided with the wallet's carry for the model.</summary>
public sealed record InferenceOperation(InferenceChargeRequest Request, decimal CostMicros) : WalletOperation
{
    public override string Name => "Inference";
    public override string Key => Request.IdempotencyKey;
    public override string Fingerprint { get; } = RequestRules.Fingerprint(Request);
    public override long? HoldNumber => Request.HoldNumber;

    /// <summary>The debit it makes, but for the amount (decided by <see cref="WalletBook.ChargeInference"/>).</summary>
    public DebitRequest Template { get; } = new(Request.IdempotencyKey, LedgerEntryKind.InferenceCharge,
        new Micros((long)decimal.Ceiling(CostMicros)), $"{Request.Model} in={Request.InputTokens} out={Request.OutputTokens}",
        new UsageTags(Model: Request.Model, MemberId: Request.MemberId, ProjectId: Request.ProjectId));
}

/// <summary>Reserves funds (a hold); its result's <c>LotId</c> is the hold's number.</summary>
public sealed record CreateHoldOperation(HoldRequest Request) : WalletOperation
{
    public override string Name => "CreateHold";
    public override string Key => Request.IdempotencyKey;
    public override string Fingerprint { get; } = RequestRules.Fingerprint(Request);
}

/// <summary>Captures or voids a hold.</summary>
public sealed record SettleHoldOperation(HoldSettleRequest Request) : WalletOperation
{
    public override string Name => Request.Void ? "VoidHold" : "CaptureHold";
    public override string Key => Request.IdempotencyKey;
    public override string Fingerprint { get; } = RequestRules.Fingerprint(Request);
    public override long? HoldNumber => Request.HoldNumber;
}

/// <summary>Sets the owner's or the admin's spending limits.</summary>
public sealed record SetLimitsOperation(LimitScope Scope, SpendLimits Limits) : WalletOperation
{
    public override string Name => "SetLimits";
}

/// <summary>Sets the auto top-up (validated before it is queued).</summary>
public sealed record ConfigureAutoTopupOperation(AutoTopupSettings Settings) : WalletOperation
{
    public override string Name => "ConfigureAutoTopup";
}

/// <summary>How an automatic recharge's payment ended (its credit, if any, is a top-up of its own).</summary>
public sealed record AutoTopupSettledOperation(long Attempt, bool Succeeded, string? Failure) : WalletOperation
{
    public override string Name => "AutoTopupSettled";
}

public sealed record OpenSessionOperation(OpenSessionRequest Request) : WalletOperation
{
    public override string Name => "OpenSession";
    public override string SessionId => Request.SessionId;
}

public sealed record ChargeSessionOperation(SessionChargeRequest Request) : WalletOperation
{
    public override string Name => "ChargeSession";
    public override string SessionId => Request.SessionId;
}

/// <summary>Charges every running session of the wallet (a metering shard's tick).</summary>
public sealed record ChargeRunningSessionsOperation(DateTimeOffset At) : WalletOperation
{
    public override string Name => "ChargeRunningSessions";
}

/// <summary>The answer to one operation: a wallet result or a session result, by the operation's kind.</summary>
public readonly record struct OperationResult(WalletOpResult? Wallet, SessionOpResult? Session, HoldView? Hold = null,
    RunningSessionsCharge? Metered = null)
{
    public static implicit operator OperationResult(RunningSessionsCharge result) => new(null, null, null, result);

    public static implicit operator OperationResult(WalletOpResult result) => new(result, null);
    public static implicit operator OperationResult(SessionOpResult result) => new(null, result);

    public string Status => Wallet?.Status.ToString() ?? Session?.Status.ToString() ?? (Metered is null ? "" : nameof(WalletOpStatus.Applied));
}
