using Npgsql;
using Qubrid.Storage;

namespace Qubrid.Silo;

/// <summary><c>reconcile</c>: checks the ledger invariants over the whole database; exit code 1 on any violation.</summary>
public static class ReconcileCommand
{
    public static async Task<int> RunAsync(Microsoft.Extensions.Configuration.IConfiguration configuration, TextWriter output)
    {
        if (await DatabaseCommand.ConnectionStringAsync(configuration, output) is not { } connectionString) return DatabaseCommand.NotConfigured;
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var report = await Reconciler.RunAsync(dataSource);
        foreach (var v in report.Violations)
            await output.WriteLineAsync($"VIOLATION wallet={v.WalletId} rule=\"{v.Rule}\" {v.Detail}");
        await output.WriteLineAsync(
            $"reconcile: {report.WalletsChecked} wallets, {report.EntriesChecked} entries checked, {report.Violations.Count} violations");
        return report.IsClean ? 0 : 1;
    }
}
