using System.Diagnostics;
using Npgsql;

namespace Qubrid.Storage;

/// <summary>What <see cref="ClusterVersion.FinalizeAsync"/> did: the version before, or the silos that keep it from finalizing.</summary>
public sealed record FinalizeOutcome(int Before, IReadOnlyList<string> PreviousReleaseSilos)
{
    public bool Finalized => PreviousReleaseSilos.Count == 0;
}

/// <summary>Which ledger rows the silo's commits write (issue 28; docs/operations.md, "Upgrading to the lean ledger rows").</summary>
public enum LedgerRowShape
{
    /// <summary>The database predates migration 0040: exactly the previous release's rows and statements.</summary>
    Previous,

    /// <summary>0040 ran but the upgrade is not finalized: the previous release's rows (which its silos read), keys checked in both places.</summary>
    PreviousChecked,

    /// <summary>Finalized: one row per single-lot entry, its movement and its idempotency record inline.</summary>
    Lean,
}

/// <summary>
/// The cluster version gate (qubrid_cluster_version, migration 0040), after CockroachDB's version finalization: a
/// release that changes what it writes keeps writing what the previous release reads until the operator says every
/// silo runs the new one (<see cref="FinalizeAsync"/>, <c>dotnet Qubrid.Silo.dll finalize-upgrade</c>).
/// </summary>
public static class ClusterVersion
{
    /// <summary>The cluster version whose ledger rows are lean (issue 28); 1 is the release before it.</summary>
    public const int LeanLedgerRows = 2;

    /// <summary>The highest version this binary can finalize.</summary>
    public const int Current = LeanLedgerRows;

    /// <summary>The finalized version, or null when migration 0040 has not run (the table does not exist).</summary>
    public static async Task<int?> ReadAsync(NpgsqlDataSource dataSource, CancellationToken ct = default)
    {
        await using var cmd = dataSource.CreateCommand("SELECT to_regclass('qubrid_cluster_version') IS NOT NULL");
        if (!(bool)(await cmd.ExecuteScalarAsync(ct))!) return null;
        await using var read = dataSource.CreateCommand("SELECT coalesce(max(version), 1) FROM qubrid_cluster_version");
        return Convert.ToInt32(await read.ExecuteScalarAsync(ct), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Finalizes the upgrade to <see cref="Current"/>: from now on silos of this release write the lean shape. Only once
    /// no silo of the previous release runs (they read only the previous shape): refused, with those silos named, while a
    /// silo alive in the membership table (not dead, alive in the last <see cref="AliveWithin"/>) has not registered
    /// (<see cref="RegisterSiloAsync"/>) that it runs this version. Returns the version before, or the silos in the way.
    /// </summary>
    public static async Task<FinalizeOutcome> FinalizeAsync(NpgsqlDataSource dataSource, CancellationToken ct = default)
    {
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var blockers = new List<string>();
        await using (var check = new NpgsqlCommand(
            $"""
            SELECT m.siloname || ' (' || m.address || ':' || m.port || ', cluster ' || m.deploymentid || ')'
            FROM OrleansMembershipTable m
            WHERE m.status NOT IN (0, 6) AND m.iamalivetime > now() - interval '{(int)AliveWithin.TotalSeconds} seconds'
              AND NOT EXISTS (SELECT 1 FROM qubrid_silo_releases r
                              WHERE r.deployment_id = m.deploymentid AND r.address = m.address AND r.port = m.port
                                AND r.generation = m.generation AND r.max_version >= $1)
            ORDER BY 1
            """, conn, tx))
        {
            check.Parameters.Add(new NpgsqlParameter { Value = Current });
            await using var reader = await check.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) blockers.Add(reader.GetString(0));
        }
        if (blockers.Count > 0) return new FinalizeOutcome(await ReadAsync(dataSource, ct) ?? 1, blockers);
        await using var cmd = new NpgsqlCommand(
            """
            WITH before AS (SELECT version FROM qubrid_cluster_version WHERE id = 1 FOR UPDATE)
            UPDATE qubrid_cluster_version v SET version = $1, finalized_at = coalesce(v.finalized_at, now())
            FROM before WHERE v.id = 1 AND v.version < $1
            RETURNING (SELECT version FROM before)
            """, conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = Current });
        var before = await cmd.ExecuteScalarAsync(ct);
        await tx.CommitAsync(ct);
        return new FinalizeOutcome(before is null ? Current : Convert.ToInt32(before, System.Globalization.CultureInfo.InvariantCulture), []);
    }

    /// <summary>How recently a membership row's silo must have said it is alive to count (Orleans writes it every 30 s).</summary>
    public static readonly TimeSpan AliveWithin = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Records that the silo at this address and generation runs cluster versions up to <see cref="Current"/>. Nothing on a
    /// schema before migration 0042 (a silo started without migrating, as the previous release's silos are emulated in tests).
    /// </summary>
    public static async Task RegisterSiloAsync(NpgsqlDataSource dataSource, string clusterId, string address, int port, int generation,
        CancellationToken ct = default)
    {
        await using (var exists = dataSource.CreateCommand("SELECT to_regclass('qubrid_silo_releases') IS NOT NULL"))
            if (!(bool)(await exists.ExecuteScalarAsync(ct))!) return;
        await using var cmd = dataSource.CreateCommand(
            """
            WITH gone AS ( -- the earlier generations of this address and port: processes that ended (bounds the table)
                DELETE FROM qubrid_silo_releases WHERE deployment_id = $1 AND address = $2 AND port = $3 AND generation < $4)
            INSERT INTO qubrid_silo_releases (deployment_id, address, port, generation, max_version) VALUES ($1, $2, $3, $4, $5)
            ON CONFLICT (deployment_id, address, port, generation) DO UPDATE SET max_version = excluded.max_version
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = clusterId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = address });
        cmd.Parameters.Add(new NpgsqlParameter { Value = port });
        cmd.Parameters.Add(new NpgsqlParameter { Value = generation });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Current });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// The contract step (Storage/Contract/0041_ledger_row_shape_contract.sql), in one transaction: rewrites the rows
    /// written in the previous shape into the lean one. Refused (SQLSTATE QB003) before <see cref="FinalizeAsync"/>.
    /// </summary>
    public static async Task ContractAsync(NpgsqlDataSource dataSource, CancellationToken ct = default)
    {
        const string resource = "Qubrid.Contract.0041_ledger_row_shape_contract.sql";
        await using var stream = typeof(ClusterVersion).Assembly.GetManifestResourceStream(resource)
            ?? throw new InvalidOperationException($"{resource} is not embedded.");
        using var reader = new StreamReader(stream);
        string sql = await reader.ReadToEndAsync(ct);
        await using var conn = await dataSource.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        await using (var run = new NpgsqlCommand(sql, conn, tx)) await run.ExecuteNonQueryAsync(ct);
        await tx.CommitAsync(ct);
    }

    /// <summary>The shape that <paramref name="version"/> (from <see cref="ReadAsync"/>) calls for.</summary>
    public static LedgerRowShape ShapeOf(int? version) => version switch
    {
        null => LedgerRowShape.Previous,
        >= LeanLedgerRows => LedgerRowShape.Lean,
        _ => LedgerRowShape.PreviousChecked,
    };
}

/// <summary>
/// The ledger writer's view of the gate: read before the first commit, then again at most every
/// <see cref="LedgerOptions.ClusterVersionRefresh"/> until it says lean, which is final (a version is never un-finalized).
/// A stale view only delays the lean rows: the previous shape stays readable and its keys are checked either way.
/// </summary>
internal sealed class LedgerShapeGate(NpgsqlDataSource dataSource, TimeSpan refresh)
{
    private volatile int _shape = -1;
    private long _readAt;

    public async ValueTask<LedgerRowShape> CurrentAsync()
    {
        int shape = _shape;
        if (shape == (int)LedgerRowShape.Lean) return LedgerRowShape.Lean;
        if (shape >= 0 && Stopwatch.GetElapsedTime(Interlocked.Read(ref _readAt)) < refresh) return (LedgerRowShape)shape;
        var read = ClusterVersion.ShapeOf(await ClusterVersion.ReadAsync(dataSource));
        Interlocked.Exchange(ref _readAt, Stopwatch.GetTimestamp());
        _shape = (int)read;
        return read;
    }
}
