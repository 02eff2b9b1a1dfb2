namespace Qubrid.Core;

/// <summary>
/// What one decision did that the rules at the end of its batch depend on. Each decision returns its own; the batch
/// folds them in arrival order (<see cref="Then"/>) and hands the result to <see cref="WalletBook.CheckSpendLimits(BatchEffects, DateTimeOffset)"/>
/// and <see cref="WalletBook.MaybeStartAutoTopup(BatchEffects, DateTimeOffset)"/>.
/// </summary>
/// <param name="Spent">A spending entry was written or a hold created: the limits' warnings are checked after the batch (R-LIMIT-3).</param>
/// <param name="LimitReached">A request was refused at a limit, or a session ended at one (R-LIMIT-2).</param>
/// <param name="AutoTopupTrigger">A consumption debit, a hold, or an insufficient-credits refusal happened (R-AUTO-1).</param>
public readonly record struct BatchEffects(bool Spent, bool LimitReached, bool AutoTopupTrigger)
{
    public static BatchEffects None => default;

    /// <summary>A spending entry written, or a hold created.</summary>
    public static BatchEffects Spending => new(Spent: true, LimitReached: false, AutoTopupTrigger: true);

    /// <summary>A debit, hold or start refused for want of credits (or a consumption debit): the auto top-up looks after the batch.</summary>
    public static BatchEffects AutoTopupCheck => new(Spent: false, LimitReached: false, AutoTopupTrigger: true);

    /// <summary>A request refused at a limit, or a session ended at one.</summary>
    public static BatchEffects AtLimit => new(Spent: false, LimitReached: true, AutoTopupTrigger: false);

    /// <summary>As after a batch that spent and reached a limit (tests that check a book outside a batch).</summary>
    public static BatchEffects All => new(Spent: true, LimitReached: true, AutoTopupTrigger: true);

    /// <summary>These effects followed by <paramref name="next"/>'s.</summary>
    public BatchEffects Then(BatchEffects next) =>
        new(Spent || next.Spent, LimitReached || next.LimitReached, AutoTopupTrigger || next.AutoTopupTrigger);
}

/// <summary>A decision's answer with its <see cref="BatchEffects"/>.</summary>
public readonly record struct Decided<T>(T Result, BatchEffects Effects);
