using Npgsql;

namespace Qubrid.Tests.Infrastructure;

/// <summary>
/// Holds back, inside PostgreSQL, every insert into a table whose new row matches a condition: a trigger makes such an
/// insert wait for a shared advisory lock that this barrier holds exclusively until it is released (or disposed). So a
/// test orders "the commit is in flight" before what it checks, without sleeping.
/// </summary>
public sealed class InsertBarrier : IAsyncDisposable
{
    private readonly NpgsqlConnection _holder;
    private readonly long _lock;
    private bool _released;

    private InsertBarrier(NpgsqlConnection holder, long lockId) => (_holder, _lock) = (holder, lockId);

    /// <summary>Installs the trigger (<paramref name="name"/> unique in the database) and takes the lock.</summary>
    /// <param name="condition">A plpgsql condition on <c>NEW</c>, e.g. <c>NEW.kind = 'expiration'</c>.</param>
    public static async Task<InsertBarrier> HoldAsync(NpgsqlDataSource db, string name, string table, string condition, long lockId)
    {
        await TestDatabase.ExecAsync(db, $$"""
            CREATE FUNCTION {{name}}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF {{condition}} THEN PERFORM pg_advisory_xact_lock_shared({{lockId}}); END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER {{name}} BEFORE INSERT ON {{table}} FOR EACH ROW EXECUTE FUNCTION {{name}}();
            """);
        var holder = await db.OpenConnectionAsync();
        await using (var take = new NpgsqlCommand($"SELECT pg_advisory_lock({lockId})", holder)) await take.ExecuteNonQueryAsync();
        return new InsertBarrier(holder, lockId);
    }

    /// <summary>Lets the held inserts go on.</summary>
    public async Task ReleaseAsync()
    {
        if (_released) return;
        _released = true;
        await using var release = new NpgsqlCommand($"SELECT pg_advisory_unlock({_lock})", _holder);
        await release.ExecuteNonQueryAsync();
    }

    public async ValueTask DisposeAsync()
    {
        await ReleaseAsync();
        await _holder.DisposeAsync();
    }
}
