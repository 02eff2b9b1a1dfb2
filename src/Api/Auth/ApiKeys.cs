using System.Security.Claims;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Caching.Memory;
using Npgsql;

namespace Qubrid.Api.Auth;

/// <summary>The three roles of SPEC.md.</summary>
public static class Roles
{
    public const string User = "user";
    public const string Orchestrator = "orchestrator";
    public const string Admin = "admin";
    public static readonly IReadOnlyList<string> All = [User, Orchestrator, Admin];
}

/// <summary>Who a key belongs to.</summary>
public sealed record ApiPrincipal(string Role, string? UserId);

public static class CallerExtensions
{
    public const string UserIdClaim = "qubrid:user";

    public static string? UserId(this ClaimsPrincipal principal) => principal.FindFirstValue(UserIdClaim);

    public static string Role(this ClaimsPrincipal principal) => principal.FindFirstValue(ClaimTypes.Role) ?? "";

    /// <summary>A user reaches only their own wallet; the admin reaches every wallet.</summary>
    public static bool CanSeeWallet(this ClaimsPrincipal principal, string userId) =>
        principal.IsInRole(Roles.Admin) || (principal.IsInRole(Roles.User) && principal.UserId() == userId);
}

/// <summary>API keys, stored as SHA-256 hashes (keys are 192-bit random, so a plain hash is enough).</summary>
public sealed class ApiKeyStore(NpgsqlDataSource db, IMemoryCache cache)
{
    private static readonly TimeSpan CacheFor = TimeSpan.FromSeconds(30);

    public static string Hash(string key) => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(key)));

    public async Task<ApiPrincipal?> FindAsync(string key, CancellationToken ct)
    {
        if (key.Length is < 16 or > 200) return null;
        var hash = Hash(key);
        if (cache.TryGetValue(hash, out ApiPrincipal? cached)) return cached;
        await using var cmd = db.CreateCommand("SELECT role, user_id FROM qubrid_api_keys WHERE key_hash = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = hash });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        ApiPrincipal? found = await reader.ReadAsync(ct) ? new ApiPrincipal(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1)) : null;
        if (found is not null) cache.Set(hash, found, CacheFor);
        return found;
    }

    /// <summary>Creates a key; only its hash is stored, the key itself is returned once.</summary>
    public async Task<string> IssueAsync(string role, string? userId, CancellationToken ct)
    {
        var key = $"qbk_{role}_{Base64Url(RandomNumberGenerator.GetBytes(24))}";
        await StoreAsync(key, role, userId, ct);
        return key;
    }

    public async Task StoreAsync(string key, string role, string? userId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "INSERT INTO qubrid_api_keys (key_hash, role, user_id) VALUES ($1, $2, $3) ON CONFLICT (key_hash) DO UPDATE SET role = EXCLUDED.role, user_id = EXCLUDED.user_id");
        cmd.Parameters.Add(new NpgsqlParameter { Value = Hash(key) });
        cmd.Parameters.Add(new NpgsqlParameter { Value = role });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)userId ?? DBNull.Value });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    private static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}

/// <summary>Stores <c>Qubrid:BootstrapAdminKey</c> as an admin key once the database is reachable.</summary>
public sealed partial class BootstrapAdminKey(ApiKeyStore keys, IConfiguration configuration, ILogger<BootstrapAdminKey> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var key = configuration["Qubrid:BootstrapAdminKey"];
        if (string.IsNullOrEmpty(key)) return;
        for (var delay = TimeSpan.FromMilliseconds(250); !stoppingToken.IsCancellationRequested; delay = TimeSpan.FromSeconds(Math.Min(delay.TotalSeconds * 2, 10)))
        {
            try
            {
                await keys.StoreAsync(key, Roles.Admin, null, stoppingToken);
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

    [LoggerMessage(Level = LogLevel.Information, Message = "Bootstrap admin key stored")]
    private static partial void LogStored(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Bootstrap admin key not stored yet: {Reason}")]
    private static partial void LogRetry(ILogger logger, string reason);
}
