using System.Security.Cryptography;
using System.Text;
using Npgsql;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Payments;

public enum ChargeOutcome { Succeeded, Declined, Failed }

/// <summary>What the card network said about one charge.</summary>
public sealed record GatewayCharge(ChargeOutcome Outcome, string Message);

/// <summary>A card payment gateway. Charges are keyed by our payment id, so asking twice never charges twice.</summary>
public interface IPaymentGateway
{
    /// <summary>True when the token is one this gateway understands (a malformed token is a 400, not a decline).</summary>
    bool IsKnownToken(string token);

    Task<GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct);

    /// <summary>The charge's outcome, or null if the gateway never saw this payment id.</summary>
    Task<GatewayCharge?> FindChargeAsync(string paymentId, CancellationToken ct);

    /// <summary>Makes sure a payment id that never reached the gateway can no longer be charged.</summary>
    Task VoidAsync(string paymentId, CancellationToken ct);
}

/// <summary>
/// The development and test gateway. Test tokens: <c>tok_visa</c> succeeds, <c>tok_chargeDeclined</c> is
/// declined, <c>tok_processingError</c> fails with a gateway error. It records its charges in its own table.
/// </summary>
public sealed class SandboxPaymentGateway(NpgsqlDataSource db) : IPaymentGateway
{
    public const string Success = "tok_visa";
    public const string Declined = "tok_chargeDeclined";
    public const string ProcessingError = "tok_processingError";

    public static readonly IReadOnlyList<object> TestCards =
    [
        new { label = "Visa (succeeds)", number = "4242 4242 4242 4242", token = Success, outcome = "succeeded" },
        new { label = "Declined card", number = "4000 0000 0000 0002", token = Declined, outcome = "declined" },
        new { label = "Processing error", number = "4000 0000 0000 0119", token = ProcessingError, outcome = "failed" },
    ];

    public bool IsKnownToken(string token) => token is Success or Declined or ProcessingError;

    public async Task<GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct)
    {
        var outcome = token switch
        {
            Success => "succeeded",
            Declined => "declined",
            _ => "failed",
        };
        await using var cmd = db.CreateCommand(
            "INSERT INTO qubrid_sandbox_charges (payment_id, amount, outcome) VALUES ($1, $2, $3) ON CONFLICT (payment_id) DO NOTHING");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = amount.Value });
        cmd.Parameters.Add(new NpgsqlParameter { Value = outcome });
        await cmd.ExecuteNonQueryAsync(ct);
        return (await FindChargeAsync(paymentId, ct))!;
    }

    public async Task<GatewayCharge?> FindChargeAsync(string paymentId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT outcome FROM qubrid_sandbox_charges WHERE payment_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        return await cmd.ExecuteScalarAsync(ct) switch
        {
            "succeeded" => new GatewayCharge(ChargeOutcome.Succeeded, "Charged."),
            "declined" => new GatewayCharge(ChargeOutcome.Declined, "Your card was declined."),
            "voided" => new GatewayCharge(ChargeOutcome.Failed, "The payment was voided before it reached the card network."),
            string => new GatewayCharge(ChargeOutcome.Failed, "The card processor had an error; nothing was charged."),
            _ => null,
        };
    }

    public async Task VoidAsync(string paymentId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "INSERT INTO qubrid_sandbox_charges (payment_id, amount, outcome) VALUES ($1, 0, 'voided') ON CONFLICT (payment_id) DO NOTHING");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        await cmd.ExecuteNonQueryAsync(ct);
    }
}

/// <summary>Top-up amounts offered and accepted.</summary>
public sealed class TopupOptions
{
    public const string Section = "Qubrid:Topup";
    public List<decimal> Presets { get; set; } = [10m, 25m, 50m, 100m];
    public decimal Min { get; set; } = 5m;
    public decimal Max { get; set; } = 10_000m;
    /// <summary>Show the sandbox gateway's test cards to users.</summary>
    public bool Sandbox { get; set; } = true;
    /// <summary>Payments left pending longer than this are settled by the recovery loop.</summary>
    public TimeSpan SettleAfter { get; set; } = TimeSpan.FromMinutes(1);
}

public sealed record TopupResult(string PaymentId, decimal Amount, string Status, long? LotId);

/// <summary>
/// The top-up flow: a payment row is written before the card is charged, the wallet is credited (keyed by
/// the payment id) only after the gateway says the charge succeeded, and the row records each step. A crash
/// anywhere leaves a row that a retry with the same Idempotency-Key, or <see cref="PaymentRecovery"/>, finishes.
/// </summary>
public sealed class TopupService(NpgsqlDataSource db, IPaymentGateway gateway, IClusterClient cluster, TimeProvider time)
{
    private sealed record Payment(string PaymentId, string Fingerprint, long Amount, string Status, long? LotId, string? Failure);

    public async Task<IResult> TopupAsync(string userId, Micros amount, string token, string idempotencyKey, CancellationToken ct)
    {
        var fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{amount.Value}|{token}")), 0, 16);
        var payment = await FindAsync(userId, idempotencyKey, ct);
        if (payment is null)
        {
            if (await cluster.GetGrain<IWalletGrain>(userId).GetBalance() is null) return ApiProblems.WalletNotFound(userId);
            payment = await InsertAsync(userId, idempotencyKey, fingerprint, amount, ct);
        }
        if (payment.Fingerprint != fingerprint)
            return ApiProblems.Problem(ErrorCodes.IdempotencyConflict, $"Idempotency key '{idempotencyKey}' was used for a different top-up.");
        payment = await SettleAsync(userId, payment, token, ct);
        return payment.Status switch
        {
            "succeeded" => TypedResults.Created($"/v1/wallets/{userId}/lots", new TopupResult(payment.PaymentId, new Micros(payment.Amount).ToUsd(), "succeeded", payment.LotId)),
            "declined" => ApiProblems.Problem(ApiProblems.PaymentDeclined, $"{payment.Failure} No credits were added (payment {payment.PaymentId})."),
            _ => ApiProblems.Problem(ApiProblems.PaymentFailed, $"{payment.Failure ?? "The payment is not settled yet."} No credits were added (payment {payment.PaymentId})."),
        };
    }

    /// <summary>Moves a payment forward as far as it can go. Safe to repeat at every step.</summary>
    private async Task<Payment> SettleAsync(string userId, Payment payment, string? token, CancellationToken ct)
    {
        if (payment.Status == "pending")
        {
            GatewayCharge? charge = token is not null
                ? await gateway.ChargeAsync(payment.PaymentId, new Micros(payment.Amount), token, ct)
                : await gateway.FindChargeAsync(payment.PaymentId, ct);
            if (charge is null)
            {
                await gateway.VoidAsync(payment.PaymentId, ct);
                charge = await gateway.FindChargeAsync(payment.PaymentId, ct);
            }
            payment = charge!.Outcome switch
            {
                ChargeOutcome.Succeeded => await UpdateAsync(payment, "charged", null, null, ct),
                ChargeOutcome.Declined => await UpdateAsync(payment, "declined", null, charge.Message, ct),
                _ => await UpdateAsync(payment, "failed", null, charge.Message, ct),
            };
        }
        if (payment.Status == "charged")
        {
            var credit = await cluster.GetGrain<IWalletGrain>(userId).Credit(new CreditRequest($"payment:{payment.PaymentId}",
                LedgerEntryKind.Topup, new Micros(payment.Amount), payment.PaymentId));
            if (!credit.Succeeded) throw new InvalidOperationException($"Crediting paid top-up {payment.PaymentId} failed: {credit.Detail}");
            payment = await UpdateAsync(payment, "succeeded", credit.LotId, null, ct);
        }
        return payment;
    }

    /// <summary>Finishes payments left pending or charged by a crash. Returns how many it settled.</summary>
    public async Task<int> SettleStaleAsync(TimeSpan olderThan, CancellationToken ct)
    {
        var stale = new List<(string UserId, Payment Payment)>();
        await using (var cmd = db.CreateCommand(
            "SELECT user_id, payment_id, fingerprint, amount, status, lot_id, failure FROM qubrid_payments WHERE status IN ('pending', 'charged') AND updated_at < $1 ORDER BY updated_at LIMIT 100"))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = (time.GetUtcNow() - olderThan).UtcDateTime });
            await using var reader = await cmd.ExecuteReaderAsync(ct);
            while (await reader.ReadAsync(ct)) stale.Add((reader.GetString(0), Read(reader, 1)));
        }
        int settled = 0;
        foreach (var (userId, payment) in stale)
        {
            try
            {
                await SettleAsync(userId, payment, token: null, ct);
                settled++;
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // Try it again later, behind the others: one stuck payment must not hold up the rest.
                await UpdateAsync(payment, payment.Status, null, payment.Failure, ct);
            }
        }
        return settled;
    }

    private async Task<Payment?> FindAsync(string userId, string key, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "SELECT payment_id, fingerprint, amount, status, lot_id, failure FROM qubrid_payments WHERE user_id = $1 AND idempotency_key = $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = userId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = key });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? Read(reader, 0) : null;
    }

    private async Task<Payment> InsertAsync(string userId, string key, string fingerprint, Micros amount, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using (var cmd = db.CreateCommand(
            """
            INSERT INTO qubrid_payments (payment_id, user_id, idempotency_key, fingerprint, amount, status, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT (user_id, idempotency_key) DO NOTHING
            """))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = $"pay_{Guid.NewGuid():N}" });
            cmd.Parameters.Add(new NpgsqlParameter { Value = userId });
            cmd.Parameters.Add(new NpgsqlParameter { Value = key });
            cmd.Parameters.Add(new NpgsqlParameter { Value = fingerprint });
            cmd.Parameters.Add(new NpgsqlParameter { Value = amount.Value });
            cmd.Parameters.Add(new NpgsqlParameter { Value = now });
            await cmd.ExecuteNonQueryAsync(ct);
        }
        return (await FindAsync(userId, key, ct))!; // ours, or the one a concurrent request with the same key wrote
    }

    /// <summary>
    /// Moves the payment from the status it was read with to <paramref name="status"/>. A payment only moves
    /// forward: when a concurrent request or the recovery loop moved it first, nothing is overwritten and the
    /// row as it now stands is returned, so the caller carries on from there.
    /// </summary>
    private async Task<Payment> UpdateAsync(Payment payment, string status, long? lotId, string? failure, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            """
            UPDATE qubrid_payments SET status = $2, lot_id = coalesce($3, lot_id), failure = $4, updated_at = $5
            WHERE payment_id = $1 AND status = $6
            RETURNING payment_id, fingerprint, amount, status, lot_id, failure
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = payment.PaymentId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = status });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)lotId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)failure ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = time.GetUtcNow().UtcDateTime });
        cmd.Parameters.Add(new NpgsqlParameter { Value = payment.Status });
        await using (var reader = await cmd.ExecuteReaderAsync(ct))
        {
            if (await reader.ReadAsync(ct)) return Read(reader, 0);
        }
        await using var current = db.CreateCommand(
            "SELECT payment_id, fingerprint, amount, status, lot_id, failure FROM qubrid_payments WHERE payment_id = $1");
        current.Parameters.Add(new NpgsqlParameter { Value = payment.PaymentId });
        await using var row = await current.ExecuteReaderAsync(ct);
        return await row.ReadAsync(ct) ? Read(row, 0) : throw new InvalidOperationException($"Payment {payment.PaymentId} disappeared.");
    }

    private static Payment Read(NpgsqlDataReader r, int o) => new(r.GetString(o), r.GetString(o + 1), r.GetInt64(o + 2), r.GetString(o + 3),
        r.IsDBNull(o + 4) ? null : r.GetInt64(o + 4), r.IsDBNull(o + 5) ? null : r.GetString(o + 5));
}

/// <summary>Settles top-ups a crash left half-done, so a paid top-up is never lost and an unpaid one never credited.</summary>
public sealed partial class PaymentRecovery(TopupService topups, Microsoft.Extensions.Options.IOptions<TopupOptions> options, ILogger<PaymentRecovery> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(15));
        while (await timer.WaitForNextTickAsync(stoppingToken))
        {
            try
            {
                int settled = await topups.SettleStaleAsync(options.Value.SettleAfter, stoppingToken);
                if (settled > 0) LogSettled(logger, settled);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                LogFailed(logger, e.Message);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Settled {Count} stale payments")]
    private static partial void LogSettled(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Payment recovery failed this round: {Reason}")]
    private static partial void LogFailed(ILogger logger, string reason);
}
