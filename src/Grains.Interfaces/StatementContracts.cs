using Orleans.CodeGeneration;
using Orleans.Concurrency;

namespace Qubrid;

/// <summary>Receipts and monthly statements, read from the ledger's tables.</summary>
[Alias("qubrid.IStatementGrain")]
[Version(0)]
public interface IStatementGrain : IGrainWithIntegerKey
{
    [Alias("Receipts"), ReadOnly] Task<IReadOnlyList<Receipt>> Receipts(string userId, int limit);

    [Alias("Receipt"), ReadOnly] Task<Receipt?> Receipt(string userId, string number);

    /// <summary>The month (UTC) starting at <paramref name="year"/>-<paramref name="month"/>-01.</summary>
    [Alias("Statement"), ReadOnly] Task<MonthlyStatement> Statement(string userId, int year, int month);
}

/// <summary>A top-up's receipt, numbered without gaps per UTC year in the crediting transaction.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.Receipt")]
public sealed record Receipt(
    [property: Id(0)] string Number,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] string PaymentId,
    [property: Id(4)] string? Brand,
    [property: Id(5)] string? Last4,
    [property: Id(6)] long LotId,
    [property: Id(7)] string UserId);

/// <summary>One line of a statement: the entries of one kind (and key: instance type, model, or the lot kind of an expiration).</summary>
[GenerateSerializer, Immutable, Alias("qubrid.StatementLine")]
public sealed record StatementLine(
    [property: Id(0)] string Kind,
    [property: Id(1)] string? Key,
    [property: Id(2)] Micros Amount,
    [property: Id(3)] long Count);

/// <summary>A wallet's month: opening + Σ lines = closing = the ledger's balance at the end of the month.</summary>
[GenerateSerializer, Immutable, Alias("qubrid.MonthlyStatement")]
public sealed record MonthlyStatement(
    [property: Id(0)] string UserId,
    [property: Id(1)] int Year,
    [property: Id(2)] int Month,
    [property: Id(3)] Micros Opening,
    [property: Id(4)] Micros Closing,
    [property: Id(5)] IReadOnlyList<StatementLine> Lines,
    [property: Id(6)] bool WalletExists);
