using Npgsql;
using Qubrid.Storage;

namespace Qubrid.Silo;

/// <summary>
/// <c>finalize-upgrade</c>: once every silo runs this release, lets them write what only this release reads (the lean
/// ledger rows of issue 28). Applies the migrations first (as a silo's start would), so it also works on a database
/// no silo of this release has started on. Refused (exit code 1) while a silo of the previous release is alive. Not undone:
/// the previous release cannot read the lean rows.
/// </summary>
public static class FinalizeUpgradeCommand
{
    public static async Task<int> RunAsync(Microsoft.Extensions.Configuration.IConfiguration configuration, TextWriter output)
    {
        if (await DatabaseCommand.ConnectionStringAsync(configuration, output) is not { } connectionString) return DatabaseCommand.NotConfigured;
        await SiloHostingExtensions.MigrateAsync(connectionString);
        await using var dataSource = NpgsqlDataSource.Create(connectionString);
        var outcome = await ClusterVersion.FinalizeAsync(dataSource);
        if (!outcome.Finalized)
        {
            await output.WriteLineAsync(
                $"finalize-upgrade: refused, the cluster version stays {outcome.Before}: these silos are alive and do not run this release " +
                $"(roll them first): {string.Join(", ", outcome.PreviousReleaseSilos)}");
            return 1;
        }
        int before = outcome.Before;
        await output.WriteLineAsync(before >= ClusterVersion.Current
            ? $"finalize-upgrade: the cluster version was already {ClusterVersion.Current}"
            : $"finalize-upgrade: cluster version {before} -> {ClusterVersion.Current}; silos write the lean ledger rows within Qubrid:Ledger:ClusterVersionRefresh");
        return 0;
    }
}
