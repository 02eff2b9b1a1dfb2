using Orleans.Concurrency;

namespace Qubrid.Statements;

/// <summary>Reads receipts and computes monthly statements (stateless: any silo, several activations).</summary>
[StatelessWorker]
public sealed class StatementGrain(StatementStore store) : Grain, IStatementGrain
{
    public Task<IReadOnlyList<Receipt>> Receipts(string userId, int limit) => store.ReceiptsAsync(userId, limit);

    public Task<Receipt?> Receipt(string userId, string number) => store.ReceiptAsync(userId, number);

    public Task<MonthlyStatement> Statement(string userId, int year, int month) => store.StatementAsync(userId, year, month);
}
