namespace Qubrid.Core;

/// <summary>What a batch is decided with, besides the book and its operations.</summary>
/// <param name="KeysLookedUp">Whether the stored outcomes of the batch's keys were looked up: a refusal is answered only then.</param>
/// <param name="SignupBonus">The grant a new wallet receives, or null when there is none.</param>
/// <param name="Policy">The platform's rules a new wallet applies (a loaded wallet carries its own).</param>
public sealed record BatchContext(string WalletId, DateTimeOffset Now, bool KeysLookedUp, CreditRequest? SignupBonus, TimeSpan LowBalanceRunway,
    WalletPolicy? Policy = null);

/// <summary>
/// The decision over one batch: the book after it, what to write (changes and idempotency records) and each
/// operation's answer, given only once the writes are durable. <see cref="LookUpKeysFirst"/> when a refusal
/// must wait for the batch's keys to be looked up (a forgotten replay must not be refused).
/// </summary>
public sealed record BatchDecision(
    WalletBook? Book,
    BookChanges Changes,
    IReadOnlyList<StoredOutcome> Outcomes,
    IReadOnlyList<OperationResult> Results,
    bool Created)
{
    public static BatchDecision LookUpKeysFirst { get; } = new(null, new BookChanges(), [], [], false) { NeedsKeyLookup = true };

    public bool NeedsKeyLookup { get; private init; }

    /// <summary>Whether anything must be written before the answers go out.</summary>
    public bool MustCommit => Created || !Changes.IsEmpty || Outcomes.Count > 0;
}

/// <summary>
/// The wallet's batch decision, pure: no Orleans, database or clock. Operations are decided in arrival order on a
/// copy of the book; a replay (same key, same request) answers its first result (a refusal too), the same key with
/// another request is a conflict, a refusal changes no balance but records its answer (docs/rules.md, idempotency). The grain loads, queues, commits and answers.
/// </summary>
public static class WalletBatch
{
    /// <param name="book">The wallet as loaded, or null when it does not exist yet. Not modified.</param>
    /// <param name="storedSessions">Sessions the batch names that the book does not hold in memory (ended ones), as stored.</param>
    /// <param name="knownOutcome">The recorded outcome of an idempotency key (remembered or looked up), or null.</param>
    public static BatchDecision Decide(WalletBook? book, IReadOnlyList<WalletOperation> operations, IReadOnlyCollection<SessionView> storedSessions,
        Func<string, StoredOutcome?> knownOutcome, BatchContext context)
    {
        var now = context.Now;
        var work = book?.Clone();
        var balanceBefore = book?.Balance;
        if (work is not null) Prepare(work, storedSessions, now);
        var results = new OperationResult[operations.Count];
        var outcomes = new List<StoredOutcome>();
        var decided = new Dictionary<string, StoredOutcome>(StringComparer.Ordinal);
        bool created = false;
        var effects = BatchEffects.None; // what the decisions did that the batch-end rules need, folded in arrival order

        for (int i = 0; i < operations.Count; i++)
        {
            var operation = operations[i];
            if (operation is CreateWallet create)
            {
                created |= work is null;
                results[i] = new WalletOpResult(WalletOpStatus.Applied, Replayed: work is not null);
                work ??= NewWallet(context, create.WithoutBonus);
                continue;
            }
            if (work is null)
            {
                results[i] = NoWallet(operation, context.WalletId);
                continue;
            }
            if (DecideUnkeyed(work, operation, now) is { } unkeyed)
            {
                (results[i], var unkeyedEffects) = unkeyed;
                effects = effects.Then(unkeyedEffects);
                continue;
            }

            string key = operation.Key!;
            var previous = decided.GetValueOrDefault(key) ?? knownOutcome(key);
            if (previous is not null)
            {
                // R-IDEM-3: same key and fingerprint replays the first result; another fingerprint is a conflict.
                results[i] = previous.Fingerprint == operation.Fingerprint ? WithHold(previous.ToResult(replayed: true), operation, work) : Conflict(key);
                continue;
            }
            if (DecideNewKey(work, operation, context, outcomes, decided) is not { } answer) return BatchDecision.LookUpKeysFirst;
            (results[i], var keyedEffects) = answer;
            effects = effects.Then(keyedEffects);
        }

        if (work is not null) Conclude(work, balanceBefore, effects, context);
        return new BatchDecision(work, work?.TakeChanges() ?? new BookChanges(), outcomes, results, created);
    }

    /// <summary>Before the operations: the stored sessions they name, then due expirations and expiry notices (R-EXP-2).</summary>
    private static void Prepare(WalletBook work, IReadOnlyCollection<SessionView> storedSessions, DateTimeOffset now)
    {
        foreach (var session in storedSessions) work.AddKnownSession(session);
        work.ExpireDue(now);
        work.NoticeExpiringLots(now);
    }

    /// <summary>
    /// After the operations: what the batch as a whole crossed (limits, auto top-up, low balance, depletion), given what its
    /// decisions did (<paramref name="effects"/>) and, for the auto top-up, what ending sessions at a limit did.
    /// </summary>
    private static void Conclude(WalletBook work, Micros? balanceBefore, BatchEffects effects, BatchContext context)
    {
        var now = context.Now;
        var endedAtLimit = work.CheckSpendLimits(effects, now);
        work.MaybeStartAutoTopup(effects.Then(endedAtLimit), now);
        work.CheckLowBalance(context.LowBalanceRunway, now);
        if (balanceBefore is { } before) work.CheckDepletion(before, now);
    }

    // R-IDEM-4: what is recorded under a key (applied operations, zero-debit queries, 402 refusals) and when.
    /// <summary>
    /// A keyed operation whose key is not known yet: applied, or refused. Null when a refusal must wait for the keys to be looked up.
    /// What must be recorded under the key goes to <paramref name="outcomes"/> and <paramref name="decided"/>.
    /// </summary>
    private static Decided<OperationResult>? DecideNewKey(WalletBook work, WalletOperation operation, BatchContext context, List<StoredOutcome> outcomes,
        Dictionary<string, StoredOutcome> decided)
    {
        string key = operation.Key!;
        var now = context.Now;
        var outcome = Apply(work, operation, now);
        if (outcome.Status != WalletOpStatus.Applied)
        {
            // A refusal is answered only once the keys were looked up (a forgotten acknowledged request must
            // replay, not be refused), and a 402 is recorded: a retry under the key gets the same refusal.
            if (!context.KeysLookedUp) return null;
            if (outcome.Status == WalletOpStatus.Invalid)
                return new(WalletOpResult.Invalid(outcome.ErrorCode ?? ErrorCodes.InvalidRequest, outcome.Detail ?? "The operation was refused."), outcome.Effects);
            var refusal = Refusal(outcome, operation);
            var refused = StoredOutcome.Refused(key, operation.Fingerprint!, refusal);
            outcomes.Add(refused);
            decided[key] = refused;
            return new(refusal, outcome.Effects);
        }
        var taken = outcome.Entry is { } e ? new Micros(Math.Abs(e.Amount.Value)) : Micros.Zero;
        var record = new StoredOutcome(key, operation.Fingerprint!, outcome.Entry?.Seq, taken, outcome.Entry?.BalanceAfter ?? work.Balance, outcome.LotId);
        if (outcome.Entry is not null || operation is InferenceOperation or CreateHoldOperation or SettleHoldOperation or VoidLotOperation or ReserveCardRefundOperation) // a query that debits 0 still moved the carry: recorded
        {
            outcomes.Add(record);
            decided[key] = record;
        }
        return new(WithHold(record.ToResult(replayed: false), operation, work), outcome.Effects);
    }

    // R-ADMIN-1: a new wallet gets its sign-up bonus in the same batch.
    // An organization's wallet gets none (docs/rules.md#R-ORG-1).
    private static WalletBook NewWallet(BatchContext context, bool withoutBonus)
    {
        var book = WalletBook.New(context.WalletId);
        book.Policy = context.Policy ?? WalletPolicy.None;
        if (!withoutBonus && context.SignupBonus is { } bonus) book.Credit(bonus, LotKind.Promotional, context.Now);
        return book;
    }

    private static OperationResult NoWallet(WalletOperation operation, string walletId) => operation switch
    {
        Settle => new WalletOpResult(WalletOpStatus.Applied),
        ChargeRunningSessionsOperation => new RunningSessionsCharge(0, 0, Micros.Zero, 0),
        OpenSessionOperation or ChargeSessionOperation =>
            SessionOpResult.Fail(WalletOpStatus.WalletNotFound, ErrorCodes.WalletNotFound, $"Wallet '{walletId}' does not exist."),
        _ => WalletOpResult.NotFound(walletId),
    };

    // R-IDEM-5: session charges are idempotent by the session's state, not by a key.
    /// <summary>Operations without an idempotency key, decided on the book directly; null for a keyed one.</summary>
    private static Decided<OperationResult>? DecideUnkeyed(WalletBook work, WalletOperation operation, DateTimeOffset now) => operation switch
    {
        Settle => Done(() => { }),
        OpenSessionOperation open => Widen(work.DecideOpenSession(open.Request, now)),
        ChargeSessionOperation charge => Widen(work.DecideSessionCharge(charge.Request, now)),
        ChargeRunningSessionsOperation all => Widen(work.DecideRunningSessionsCharge(all.At, now)),
        SetLimitsOperation limits => Done(() => work.SetLimits(limits.Scope, limits.Limits)),
        ConfigureAutoTopupOperation auto => Done(() => work.ConfigureAutoTopup(auto.Settings)),
        AutoTopupSettledOperation settled => Done(() => work.SettleAutoTopup(settled.Attempt, settled.Succeeded, settled.Failure, now)),
        SettleCardRefundOperation refund => work.SettleCardRefund(refund.RefundId, refund.Succeeded, refund.Failure, now),
        _ => null,
    };

    /// <summary>A hold call's answer carries the hold as it now stands (when the book holds it).</summary>
    private static OperationResult WithHold(WalletOpResult result, WalletOperation operation, WalletBook work) =>
        operation is CreateHoldOperation or SettleHoldOperation && result.LotId is { } number && work.FindHold(number) is { } hold
            ? new OperationResult(result, null, hold.ToView(work.WalletId))
            : result;

    /// <summary>A change with no effect on the batch-end rules (settings, an attempt's report).</summary>
    private static Decided<OperationResult> Done(Action change)
    {
        change();
        return new(new WalletOpResult(WalletOpStatus.Applied), BatchEffects.None);
    }

    private static Decided<OperationResult> Widen(Decided<SessionOpResult> d) => new(d.Result, d.Effects);

    private static Decided<OperationResult> Widen(Decided<RunningSessionsCharge> d) => new(d.Result, d.Effects);

    private static BookOutcome Apply(WalletBook work, WalletOperation operation, DateTimeOffset now)
    {
        switch (operation)
        {
            case CreateHoldOperation hold:
                return work.CreateHold(hold.Request, now);
            case SettleHoldOperation settle:
                return work.SettleHold(settle.Request, now);
            case CreditOperation credit:
                // Its shape was validated when queued; a grant's expiry is checked here, for a new key only.
                if (RequestRules.ValidateCredit(credit.Request, now, out var lotKind) is { } expired)
                    return BookOutcome.Refused(expired.ErrorCode!, expired.Detail!);
                return work.Credit(credit.Request, lotKind, now);
            case InferenceOperation query:
                return work.ChargeInference(query.Template, query.CostMicros, now, query.Request.HoldNumber);
            case DebitOperation debit:
                return work.Debit(debit.Request, now);
            case VoidLotOperation voidLot:
                return work.VoidLot(voidLot.Request, now);
            case ReserveCardRefundOperation refund:
                return work.ReserveCardRefund(refund.Request, now);
            default:
                throw new InvariantViolationException($"A {operation.Name} operation has no idempotency key to decide it by.");
        }
    }

    private static WalletOpResult Conflict(string key) =>
        new(WalletOpStatus.IdempotencyConflict, ErrorCode: ErrorCodes.IdempotencyConflict, Detail: $"Idempotency key '{key}' was used for a different request.");

    private static WalletOpResult Refusal(BookOutcome outcome, WalletOperation operation)
    {
        var asked = operation switch
        {
            DebitOperation d => d.Request.Amount,
            InferenceOperation q => q.Template.Amount,
            _ => Micros.Zero,
        };
        return new WalletOpResult(outcome.Status, Amount: outcome.Available, BalanceAfter: outcome.Available, ErrorCode: outcome.ErrorCode ?? ErrorCodes.InsufficientCredits,
            Detail: outcome.Detail ?? $"The wallet holds {outcome.Available.ToUsd():0.######} USD, less than {asked.ToUsd():0.######} USD.");
    }
}
