using Npgsql;

namespace Qubrid.Api.Apis;

/// <summary>
/// Which wallet a session belongs to, from the wallets' own record (qubrid_wallet_sessions, indexed by session id), and
/// where the event feed stands now. Read straight from the database so that a request for a session id nobody started
/// activates no session grain.
/// </summary>
public sealed class SessionDirectory(NpgsqlDataSource db)
{
    private long _lookups;

    /// <summary>Lookups made (for tests).</summary>
    public long Lookups => Interlocked.Read(ref _lookups);

    /// <summary>The user whose wallet opened the session, or null if no wallet ever did.</summary>
    public async Task<string?> OwnerOfAsync(string sessionId, CancellationToken ct)
    {
        Interlocked.Increment(ref _lookups);
        await using var cmd = db.CreateCommand("SELECT wallet_id FROM qubrid_wallet_sessions WHERE session_id = $1 LIMIT 1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = sessionId });
        return await cmd.ExecuteScalarAsync(ct) as string;
    }

    /// <summary>The id of the newest event: a stream opened without Last-Event-ID starts after it.</summary>
    public async Task<long> LatestEventIdAsync(CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT coalesce(max(id), 0) FROM qubrid_events");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }
}
