using Microsoft.Extensions.Options;
using Npgsql;
using Orleans.Configuration;
using Orleans.Runtime;
using Qubrid.Storage;

namespace Qubrid.Silo;

/// <summary>
/// Registers, before the silo joins the cluster, that this silo process runs cluster versions up to
/// <see cref="ClusterVersion.Current"/> (qubrid_silo_releases), so that finalize-upgrade can tell a silo of the previous
/// release, which never registers, from one of this release (<see cref="ClusterVersion.FinalizeAsync"/>).
/// </summary>
public sealed class SiloReleaseRegistration(
    NpgsqlDataSource dataSource,
    ILocalSiloDetails silo,
    IOptions<ClusterOptions> cluster) : ILifecycleParticipant<ISiloLifecycle>
{
    public void Participate(ISiloLifecycle lifecycle) =>
        // Before membership: by the time the silo is Joining or Active in OrleansMembershipTable, its row is here.
        lifecycle.Subscribe(nameof(SiloReleaseRegistration), ServiceLifecycleStage.RuntimeInitialize, RegisterAsync, _ => Task.CompletedTask);

    private async Task RegisterAsync(CancellationToken ct)
    {
        var endpoint = silo.SiloAddress.Endpoint;
        // A pooled connection broken by a database restart fails once: retry a few times before failing the silo's start.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await ClusterVersion.RegisterSiloAsync(dataSource, cluster.Value.ClusterId, endpoint.Address.ToString(), endpoint.Port,
                    silo.SiloAddress.Generation, ct);
                return;
            }
            catch (NpgsqlException) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromSeconds(attempt), ct);
            }
        }
    }
}
