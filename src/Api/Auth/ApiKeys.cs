using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Options;
using Npgsql;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Auth;

/// <summary>The three roles (docs/rules.md#R-ROLE-1).</summary>
public static class Roles
{
    public const string User = "user";
    public const string Orchestrator = "orchestrator";
    public const string Admin = "admin";
    public static readonly IReadOnlyList<string> All = [User, Orchestrator, Admin];
}

/// <summary>Who a key belongs to, and which key it is (its public id, never the secret).</summary>
public sealed record ApiPrincipal(string KeyId, string Role, string? UserId);

public static class CallerExtensions
{
    public const string UserIdClaim = "qubrid:user";
    public const string KeyIdClaim = "qubrid:key";

    public static string? UserId(this ClaimsPrincipal principal) => principal.FindFirstValue(UserIdClaim);

    public static string Role(this ClaimsPrincipal principal) => principal.FindFirstValue(ClaimTypes.Role) ?? "";

    /// <summary>The public id of the API key the request was authenticated with; null when unauthenticated.</summary>
    public static string? KeyId(this ClaimsPrincipal principal) => principal.FindFirstValue(KeyIdClaim);

    // R-ROLE-2: a user sees only their own wallet (another's is 404, WalletsApi.Access); the admin every one.
    // R-ORG-2: in an organization's wallet, the owner does everything, billing money and reading, a member the balance and their usage.
    /// <summary>
    /// A user reaches their own wallet, and an organization's as far as their role there allows (<paramref name="right"/>); the
    /// admin reaches every wallet.
    /// </summary>
    public static bool CanSeeWallet(this ClaimsPrincipal principal, string userId, WalletRight right = WalletRight.Read)
    {
        if (principal.IsInRole(Roles.Admin) || (principal.IsInRole(Roles.User) && principal.UserId() == userId)) return true;
        return principal.OrganizationRole(userId) switch
        {
            OrgRole.Owner => true,
            OrgRole.Billing => right != WalletRight.Manage,
            OrgRole.Member => right is WalletRight.Balance or WalletRight.Usage,
            _ => false,
        };
    }

    /// <summary>The caller's role in the organization whose wallet is <paramref name="walletId"/> (added by <see cref="OrganizationRoles"/>), or null.</summary>
    public static OrgRole? OrganizationRole(this ClaimsPrincipal principal, string walletId)
    {
        foreach (var claim in principal.FindAll(OrganizationRoles.Claim))
        {
            var parts = claim.Value.Split(' ');
            if (parts.Length == 2 && parts[0] == walletId && OrgRoles.TryParse(parts[1], out var role)) return role;
        }
        return null;
    }

    // R-KEY-1: a user manages only their own keys; the admin every key.
    /// <summary>A user manages only their own keys; the admin manages every key.</summary>
    public static bool CanManageKey(this ClaimsPrincipal principal, ApiKeyInfo key) =>
        principal.IsInRole(Roles.Admin) || (principal.IsInRole(Roles.User) && key.Role == Roles.User && key.UserId == principal.UserId());
}

/// <summary>The client's address, as rate limits see it (the connection's; no forwarded headers are trusted).</summary>
public static class ClientAddress
{
    public static string Of(HttpContext context) => context.Connection.RemoteIpAddress?.ToString() ?? "local";
}

/// <summary>A key as listed: never the secret.</summary>
public sealed record ApiKeyInfo(
    string Id, string Prefix, string Role, string? UserId, DateTimeOffset CreatedAt, DateTimeOffset? LastUsedAt,
    DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

/// <summary>A key just issued: the secret is shown this once.</summary>
public sealed record IssuedKey(string Id, string Key, string Prefix, string Role, string? UserId, DateTimeOffset? ExpiresAt);

public enum KeyLookupStatus { Found, Unknown, Throttled }

public enum KeyChangeStatus { Done, NotFound, LastAdminKey, NotActive }

/// <summary>
/// API keys, stored as SHA-256 hashes (keys are 192-bit random, so a plain hash is enough).
/// <para>
/// Lookups are cached in memory: a valid key for <see cref="ApiOptions.KeyCacheSeconds"/> (its expiry and the end of a
/// rotation's grace are checked on every request, cached or not), an unknown, expired or revoked key for
/// <see cref="ApiOptions.UnknownKeyCacheSeconds"/>. Revoking or rotating a key drops it from this process's cache at once;
/// other API processes see the change when their cached entry ends, so after a revocation a key may keep working on
/// another API process for at most <see cref="ApiOptions.KeyCacheSeconds"/> (15 s by default).
/// </para>
/// <para>
/// A key that is not cached costs one database query; failed lookups (unknown keys) are budgeted per client address
/// (<see cref="ApiOptions.UnknownKeyLookupBurstPerAddress"/>, refilled at <see cref="ApiOptions.UnknownKeyLookupsPerSecondPerAddress"/>):
/// once spent, further uncached keys from that address are answered 429 without asking the database. The budget refills on
/// elapsed time (<see cref="Stopwatch"/>), not on the injected clock: a rate is a matter of real seconds
/// passing, which a wall clock that jumps (or a test's clock that stands still) does not measure.
/// </para>
/// </summary>
public sealed class ApiKeyStore(NpgsqlDataSource db, IMemoryCache cache, IOptions<ApiOptions> options, TimeProvider time, ILogger<ApiKeyStore> logger)
{
    /// <summary>The shortest key accepted (the bootstrap key included); issued keys are much longer.</summary>
    public const int MinKeyLength = 16;
    public const int MaxKeyLength = 200;

    /// <summary>How often a key's last use is written, at most, per API process.</summary>
    public static readonly TimeSpan LastUsedInterval = TimeSpan.FromMinutes(1);

    private const string Columns = "id, prefix, role, user_id, created_at, last_used_at, expires_at, revoked_at";
    private const long KeyChangeLock = 0x5155_4B45_5953; // "QUKEYS": revocations and rotations one at a time
    private readonly ConcurrentDictionary<string, long> _lastUsedWritten = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<CachedKey?>>> _inflight = new();
    private long _lookupQueries;
    private long _lastUsedWrites;

    /// <summary>Database queries made to look a key up (for tests and metrics).</summary>
    public long LookupQueries => Interlocked.Read(ref _lookupQueries);

    /// <summary>Writes of last-used times (for tests and metrics).</summary>
    public long LastUsedWrites => Interlocked.Read(ref _lastUsedWrites);

    public static string Hash(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    private sealed record CachedKey(ApiPrincipal? Principal, DateTimeOffset? NotAfter);

    private sealed record CacheKey(string Hash);

    private sealed record BudgetKey(string Address);

    public async Task<(KeyLookupStatus Status, ApiPrincipal? Principal)> FindAsync(string key, string clientAddress, CancellationToken ct)
    {
        if (key.Length is < MinKeyLength or > MaxKeyLength) return (KeyLookupStatus.Unknown, null);
        var hash = Hash(key);
        var now = time.GetUtcNow();
        if (cache.TryGetValue(new CacheKey(hash), out CachedKey? cached) && cached is not null)
        {
            // A cached key still ends at its expiry (R-KEY-4).
            if (cached.Principal is null || cached.NotAfter <= now) return (KeyLookupStatus.Unknown, null);
            await RecordUseAsync(cached.Principal.KeyId, now, ct);
            return (KeyLookupStatus.Found, cached.Principal);
        }

        // Concurrent first requests with one key share one lookup, and spend at most one unit of the address's budget.
        var budget = cache.GetOrCreate(new BudgetKey(clientAddress), entry =>
        {
            entry.SlidingExpiration = TimeSpan.FromMinutes(10);
            var o = options.Value;
            return new LookupBudget(o.UnknownKeyLookupBurstPerAddress, o.UnknownKeyLookupsPerSecondPerAddress);
        })!;
        var mine = new Lazy<Task<CachedKey?>>(async () =>
        {
            if (!budget.TryTake()) return null;
            CachedKey looked;
            try
            {
                looked = await LookUpAsync(hash, now);
            }
            catch
            {
                budget.Refund(); // the database failed (503): that says nothing about the key, so it costs the address nothing
                throw;
            }
            if (looked.Principal is not null) budget.Refund(); // a valid key costs the address nothing
            return looked;
        });
        var shared = _inflight.GetOrAdd(hash, mine);
        CachedKey? found;
        try
        {
            found = await shared.Value.WaitAsync(ct);
        }
        finally
        {
            if (shared == mine) _inflight.TryRemove(new KeyValuePair<string, Lazy<Task<CachedKey?>>>(hash, mine));
        }
        if (found is null) return (KeyLookupStatus.Throttled, null);
        if (found.Principal is null) return (KeyLookupStatus.Unknown, null);
        await RecordUseAsync(found.Principal.KeyId, now, ct);
        return (KeyLookupStatus.Found, found.Principal);
    }

    /// <summary>One database query for a key not cached; the answer, found or not, is cached.</summary>
    private async Task<CachedKey> LookUpAsync(string hash, DateTimeOffset now)
    {
        Interlocked.Increment(ref _lookupQueries);
        await using var cmd = db.CreateCommand("SELECT id, role, user_id, expires_at, revoked_at FROM qubrid_api_keys WHERE key_hash = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = hash });
        ApiPrincipal? found = null;
        DateTimeOffset? notAfter = null;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using (var reader = await cmd.ExecuteReaderAsync(timeout.Token))
        {
            if (await reader.ReadAsync(timeout.Token))
            {
                var expires = reader.IsDBNull(3) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(3);
                var revoked = reader.IsDBNull(4) ? (DateTimeOffset?)null : reader.GetFieldValue<DateTimeOffset>(4);
                // R-KEY-4: a key is 401 from its expiresAt (a rotated key's: the end of its grace) or its revocation on.
                notAfter = Earliest(expires, revoked);
                if (notAfter is null || notAfter > now)
                    found = new ApiPrincipal(reader.GetString(0), reader.GetString(1), reader.IsDBNull(2) ? null : reader.GetString(2));
            }
        }
        var entry = found is null ? new CachedKey(null, null) : new CachedKey(found, notAfter);
        cache.Set(new CacheKey(hash), entry, TimeSpan.FromSeconds(found is null ? options.Value.UnknownKeyCacheSeconds : options.Value.KeyCacheSeconds));
        return entry;
    }

    private static DateTimeOffset? Earliest(DateTimeOffset? a, DateTimeOffset? b) => a is null ? b : b is null ? a : a < b ? a : b;

    /// <summary>Writes the key's last use, at most once per <see cref="LastUsedInterval"/> per key on this process; a failed write only loses the time.</summary>
    private async Task RecordUseAsync(string keyId, DateTimeOffset now, CancellationToken ct)
    {
        var last = _lastUsedWritten.GetOrAdd(keyId, long.MinValue);
        if (last != long.MinValue && now.UtcTicks - last < LastUsedInterval.Ticks) return;
        if (!_lastUsedWritten.TryUpdate(keyId, now.UtcTicks, last)) return; // another request is writing it
        try
        {
            Interlocked.Increment(ref _lastUsedWrites);
            await using var cmd = db.CreateCommand("UPDATE qubrid_api_keys SET last_used_at = $2 WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < $2)");
            cmd.Parameters.Add(new NpgsqlParameter { Value = keyId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = now });
            await cmd.ExecuteNonQueryAsync(ct);
        }
        catch (Exception e) when (e is NpgsqlException or OperationCanceledException or TimeoutException)
        {
            logger.LogDebug("Last use of key {KeyId} not recorded: {Reason}", keyId, e.Message);
        }
    }

    /// <summary>Creates a key; only its hash is stored, the key itself is returned once.</summary>
    public async Task<string> IssueAsync(string role, string? userId, CancellationToken ct) => (await IssueKeyAsync(role, userId, null, ct)).Key;

    public async Task<IssuedKey> IssueKeyAsync(string role, string? userId, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        return await InsertAsync(conn, null, role, userId, expiresAt, ct);
    }

    private static async Task<IssuedKey> InsertAsync(NpgsqlConnection conn, NpgsqlTransaction? tx, string role, string? userId, DateTimeOffset? expiresAt, CancellationToken ct)
    {
        var secret = Base64Url(RandomNumberGenerator.GetBytes(24));
        var key = $"qbk_{role}_{secret}";
        var issued = new IssuedKey($"key_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}", key, $"qbk_{role}_{secret[..6]}", role, userId, expiresAt);
        await using var cmd = new NpgsqlCommand(
            "INSERT INTO qubrid_api_keys (id, key_hash, prefix, role, user_id, expires_at) VALUES ($1, $2, $3, $4, $5, $6)", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = issued.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Hash(key) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = issued.Prefix });
        cmd.Parameters.Add(new NpgsqlParameter { Value = role });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)userId ?? DBNull.Value });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)expiresAt ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync(ct);
        return issued;
    }

    // R-KEY-5: a revoked bootstrap key stays revoked across restarts.
    /// <summary>
    /// Stores the configured bootstrap admin key unless it is already stored: a bootstrap key once revoked stays
    /// revoked although the configuration still names it. (Only the prefix of a key stored before key management is filled in.)
    /// </summary>
    public async Task StoreBootstrapAsync(string key, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            """
            INSERT INTO qubrid_api_keys (id, key_hash, prefix, role, user_id) VALUES ($1, $2, $3, 'admin', NULL)
            ON CONFLICT (key_hash) DO UPDATE SET prefix = EXCLUDED.prefix WHERE qubrid_api_keys.prefix = ''
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = $"key_{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(12))}" });
        cmd.Parameters.Add(new NpgsqlParameter { Value = Hash(key) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = key[..4] });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>All keys (<paramref name="userId"/> null) or one user's keys, oldest first.</summary>
    public async Task<IReadOnlyList<ApiKeyInfo>> ListAsync(string? userId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(userId is null
            ? $"SELECT {Columns} FROM qubrid_api_keys ORDER BY created_at, id"
            : $"SELECT {Columns} FROM qubrid_api_keys WHERE user_id = $1 AND role = 'user' ORDER BY created_at, id");
        if (userId is not null) cmd.Parameters.Add(new NpgsqlParameter { Value = userId });
        var keys = new List<ApiKeyInfo>();
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        while (await reader.ReadAsync(ct)) keys.Add(Read(reader));
        return keys;
    }

    public async Task<ApiKeyInfo?> GetAsync(string id, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand($"SELECT {Columns} FROM qubrid_api_keys WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader) : null;
    }

    // R-KEY-2: 401 from the next request on; the last active admin key stays (last_admin_key).
    /// <summary>Revokes a key (a repeat is harmless), unless it is the last active admin key; drops it from this process's cache at once.</summary>
    public async Task<(KeyChangeStatus Status, ApiKeyInfo? Key)> RevokeAsync(string id, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var (key, hash) = await LockAsync(conn, tx, id, ct);
        if (key is null) return (KeyChangeStatus.NotFound, null);
        if (key.RevokedAt is not null) return (KeyChangeStatus.Done, key);
        if (key.Role == Roles.Admin && IsActive(key, now))
        {
            // Other admin keys that will keep working: active, and not ending after a rotation's grace.
            await using var others = new NpgsqlCommand(
                "SELECT count(*) FROM qubrid_api_keys WHERE role = 'admin' AND id <> $1 AND revoked_at IS NULL AND rotated_to IS NULL AND (expires_at IS NULL OR expires_at > $2)",
                conn, tx);
            others.Parameters.Add(new NpgsqlParameter { Value = id });
            others.Parameters.Add(new NpgsqlParameter { Value = now });
            if ((long)(await others.ExecuteScalarAsync(ct))! == 0) return (KeyChangeStatus.LastAdminKey, key);
        }
        await using (var revoke = new NpgsqlCommand("UPDATE qubrid_api_keys SET revoked_at = $2 WHERE id = $1", conn, tx))
        {
            revoke.Parameters.Add(new NpgsqlParameter { Value = id });
            revoke.Parameters.Add(new NpgsqlParameter { Value = now });
            await revoke.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        cache.Remove(new CacheKey(hash!));
        return (KeyChangeStatus.Done, key with { RevokedAt = now });
    }

    // R-KEY-3: a new key; the old one works for the grace period, then 401.
    /// <summary>
    /// Issues a new key with the old one's role, user and expiry; the old key keeps working for <paramref name="grace"/>
    /// (its expiry becomes the end of the grace, if earlier), then is refused.
    /// </summary>
    public async Task<(KeyChangeStatus Status, IssuedKey? Key)> RotateAsync(string id, TimeSpan grace, CancellationToken ct)
    {
        var now = time.GetUtcNow();
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var tx = await conn.BeginTransactionAsync(ct);
        var (key, hash) = await LockAsync(conn, tx, id, ct);
        if (key is null) return (KeyChangeStatus.NotFound, null);
        if (!IsActive(key, now) || await RotatedAsync(conn, tx, id, ct)) return (KeyChangeStatus.NotActive, null);
        var issued = await InsertAsync(conn, tx, key.Role, key.UserId, key.ExpiresAt, ct);
        var end = now + grace;
        await using (var old = new NpgsqlCommand(
            "UPDATE qubrid_api_keys SET expires_at = CASE WHEN expires_at IS NULL OR expires_at > $2 THEN $2 ELSE expires_at END, rotated_to = $3 WHERE id = $1", conn, tx))
        {
            old.Parameters.Add(new NpgsqlParameter { Value = id });
            old.Parameters.Add(new NpgsqlParameter { Value = end });
            old.Parameters.Add(new NpgsqlParameter { Value = issued.Id });
            await old.ExecuteNonQueryAsync(ct);
        }
        await tx.CommitAsync(ct);
        cache.Remove(new CacheKey(hash!));
        return (KeyChangeStatus.Done, issued);
    }

    private static bool IsActive(ApiKeyInfo key, DateTimeOffset now) => key.RevokedAt is null && (key.ExpiresAt is null || key.ExpiresAt > now);

    private static async Task<bool> RotatedAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string id, CancellationToken ct)
    {
        await using var cmd = new NpgsqlCommand("SELECT rotated_to IS NOT NULL FROM qubrid_api_keys WHERE id = $1", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        return (bool)(await cmd.ExecuteScalarAsync(ct))!;
    }

    /// <summary>Serialises key changes (so two admins revoking the two last admin keys cannot both succeed) and reads the key.</summary>
    private static async Task<(ApiKeyInfo? Key, string? Hash)> LockAsync(NpgsqlConnection conn, NpgsqlTransaction tx, string id, CancellationToken ct)
    {
        await using (var lockCmd = new NpgsqlCommand($"SELECT pg_advisory_xact_lock({KeyChangeLock})", conn, tx)) await lockCmd.ExecuteNonQueryAsync(ct);
        await using var cmd = new NpgsqlCommand($"SELECT {Columns}, key_hash FROM qubrid_api_keys WHERE id = $1", conn, tx);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? (Read(reader), reader.GetString(8)) : (null, null);
    }

    private static ApiKeyInfo Read(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3), r.GetFieldValue<DateTimeOffset>(4),
        r.IsDBNull(5) ? null : r.GetFieldValue<DateTimeOffset>(5), r.IsDBNull(6) ? null : r.GetFieldValue<DateTimeOffset>(6),
        r.IsDBNull(7) ? null : r.GetFieldValue<DateTimeOffset>(7));

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    /// <summary>
    /// A token bucket of failed lookups for one client address: a token is taken before the query and given back if the key
    /// was found. It refills by elapsed time on the monotonic <see cref="Stopwatch"/>.
    /// </summary>
    private sealed class LookupBudget(int burst, double perSecond)
    {
        private readonly Lock _lock = new();
        private double _tokens = burst;
        private long _at = Stopwatch.GetTimestamp();

        public bool TryTake()
        {
            lock (_lock)
            {
                long now = Stopwatch.GetTimestamp();
                _tokens = Math.Min(burst, _tokens + Stopwatch.GetElapsedTime(_at, now).TotalSeconds * perSecond);
                _at = now;
                if (_tokens < 1) return false;
                _tokens -= 1;
                return true;
            }
        }

        public void Refund()
        {
            lock (_lock) _tokens = Math.Min(burst, _tokens + 1);
        }
    }
}

/// <summary>Stores <c>Qubrid:BootstrapAdminKey</c> as an admin key once the database is reachable (unless stored before: see <see cref="ApiKeyStore.StoreBootstrapAsync"/>).</summary>
public sealed partial class BootstrapAdminKey(ApiKeyStore keys, IConfiguration configuration, ILogger<BootstrapAdminKey> logger) : BackgroundService
{
    public const string Setting = "Qubrid:BootstrapAdminKey";

    /// <summary>Why the configured bootstrap key cannot be used, or null if it can (or none is configured). The API refuses to start then.</summary>
    public static string? Problem(IConfiguration configuration)
    {
        var key = configuration[Setting];
        if (string.IsNullOrEmpty(key)) return null;
        if (key.Length < ApiKeyStore.MinKeyLength)
            return $"{Setting} is {key.Length} characters long; API keys must have at least {ApiKeyStore.MinKeyLength}, so it could never be used. Configure a longer key.";
        if (key.Length > ApiKeyStore.MaxKeyLength)
            return $"{Setting} is {key.Length} characters long; API keys may have at most {ApiKeyStore.MaxKeyLength}. Configure a shorter key.";
        if (key.Any(char.IsWhiteSpace))
            return $"{Setting} contains white space, which a bearer token cannot carry. Configure a key without it.";
        return null;
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var key = configuration[Setting];
        if (string.IsNullOrEmpty(key) || Problem(configuration) is not null) return;
        for (var delay = TimeSpan.FromMilliseconds(250); !stoppingToken.IsCancellationRequested; delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 10)))
        {
            try
            {
                await keys.StoreBootstrapAsync(key, stoppingToken);
                LogStored(logger);
                return;
            }
            catch (Exception e) when (e is NpgsqlException or PostgresException)
            {
                LogRetry(logger, e.Message);
                await Task.Delay(delay, stoppingToken);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Bootstrap admin key stored (or already stored)")]
    private static partial void LogStored(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bootstrap admin key not stored yet: {Reason}")]
    private static partial void LogRetry(ILogger logger, string reason);
}
