using System.Security.Cryptography;
using System.Text;
using Npgsql;

namespace Qubrid.Payments;

/// <summary>
/// The top-up flow: a payment row is written before the card is charged, the wallet is credited (keyed by
/// the payment id) only after the gateway says the charge succeeded, and the row records each step. A crash
/// anywhere leaves a row that a retry with the same Idempotency-Key, or <see cref="PaymentRecovery"/>, finishes.
/// </summary>
public sealed class TopupService(NpgsqlDataSource db, IPaymentGateway gateway, IGrainFactory cluster, TimeProvider time)
{
    // R-TOPUP-2: pending → charged → credited (keyed payment:<paymentId>) → succeeded; credits only after the charge.
    /// <param name="paymentId">The payment's id when the caller derives it (an auto top-up: wallet and attempt); a new one otherwise.</param>
    public async Task<TopupOutcome> TopupAsync(string userId, Micros amount, string token, string idempotencyKey, CancellationToken ct, string? paymentId = null)
    {
        var fingerprint = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{amount.Value}|{token}")), 0, 16);
        var payment = await FindAsync(userId, idempotencyKey, ct);
        if (payment is null)
        {
            if (await cluster.GetGrain<IWalletGrain>(userId).GetBalance() is null) return TopupOutcome.WalletNotFound;
            payment = await InsertAsync(userId, idempotencyKey, fingerprint, amount, paymentId ?? $"pay_{Guid.NewGuid():N}", ct);
        }
        if (payment.Fingerprint != fingerprint) return TopupOutcome.IdempotencyConflict;
        payment = await SettleAsync(userId, payment, token, ct);
        var kind = payment.Status switch
        {
            PaymentStatus.Succeeded => TopupOutcomeKind.Succeeded,
            PaymentStatus.Declined => TopupOutcomeKind.Declined,
            _ => TopupOutcomeKind.Failed, // failed, or not settled yet
        };
        return new TopupOutcome(kind, payment.PaymentId, new Micros(payment.Amount), payment.LotId, payment.Failure);
    }

    /// <summary>Moves a payment forward as far as it can go. Safe to repeat at every step.</summary>
    private async Task<Payment> SettleAsync(string userId, Payment payment, string? token, CancellationToken ct)
    {
        if (payment.Status == PaymentStatus.Pending)
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
                ChargeOutcome.Succeeded => await UpdateAsync(userId, payment, PaymentStatus.Charged, null, null, ct, charge),
                ChargeOutcome.Declined => await UpdateAsync(userId, payment, PaymentStatus.Declined, null, charge.Message, ct),
                _ => await UpdateAsync(userId, payment, PaymentStatus.Failed, null, charge.Message, ct),
            };
        }
        if (payment.Status == PaymentStatus.Charged)
        {
            var credit = await cluster.GetGrain<IWalletGrain>(userId).Credit(new CreditRequest($"payment:{payment.PaymentId}",
                LedgerEntryKind.Topup, new Micros(payment.Amount), payment.PaymentId));
            if (!credit.Succeeded) throw new InvalidOperationException($"Crediting paid top-up {payment.PaymentId} failed: {credit.Detail}");
            payment = await UpdateAsync(userId, payment, PaymentStatus.Succeeded, credit.LotId, null, ct);
        }
        return payment;
    }

    // R-TOPUP-4: settles stale payments (PaymentRecovery runs it): voids what the gateway never saw, credits a charged one once.
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
                await UpdateAsync(userId, payment, payment.Status, null, payment.Failure, ct);
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

    private async Task<Payment> InsertAsync(string userId, string key, string fingerprint, Micros amount, string paymentId, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        await using (var cmd = db.CreateCommand(
            """
            INSERT INTO qubrid_payments (payment_id, user_id, idempotency_key, fingerprint, amount, status, created_at, updated_at)
            VALUES ($1, $2, $3, $4, $5, 'pending', $6, $6) ON CONFLICT (user_id, idempotency_key) DO NOTHING
            """))
        {
            cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
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
    /// row as it now stands is returned, so the caller carries on from there. The move to charged keeps the card
    /// the gateway named (the receipt takes it from this row); the move to declined or failed writes the
    /// <c>topup_failed</c> event in the same transaction.
    /// </summary>
    private async Task<Payment> UpdateAsync(string userId, Payment payment, PaymentStatus status, long? lotId, string? failure, CancellationToken ct,
        GatewayCharge? charge = null)
    {
        bool failed = status is PaymentStatus.Declined or PaymentStatus.Failed && payment.Status != status;
        await using (var conn = await db.OpenConnectionAsync(ct))
        await using (var batch = conn.CreateBatch())
        {
            // Event ids follow commit order (CommitStatements.AddEvents): the same lock, taken before the id is drawn.
            if (failed) batch.BatchCommands.Add(new NpgsqlBatchCommand("SELECT pg_advisory_xact_lock(81770001)"));
            const string Move =
                """
                UPDATE qubrid_payments SET status = $2, lot_id = coalesce($3, lot_id), failure = $4, updated_at = $5,
                       card_brand = coalesce($7, card_brand), card_last4 = coalesce($8, card_last4)
                WHERE payment_id = $1 AND status = $6
                RETURNING payment_id, fingerprint, amount, status, lot_id, failure
                """;
            // The event only if this request moved the row (a concurrent one that moved it first wrote its own).
            var update = new NpgsqlBatchCommand(failed
                ? $"""
                  WITH moved AS ({Move}),
                  event AS (
                      INSERT INTO qubrid_events (at, kind, wallet_id, session_id, reason, balance, runway_seconds, data)
                      SELECT $5, 'topup_failed', $9, NULL, $2, coalesce((SELECT balance FROM qubrid_wallets WHERE wallet_id = $9), 0), NULL, $10::jsonb
                      FROM moved)
                  SELECT * FROM moved
                  """
                : Move);
            update.Parameters.Add(new NpgsqlParameter { Value = payment.PaymentId });
            update.Parameters.Add(new NpgsqlParameter { Value = status.ToDb() });
            update.Parameters.Add(new NpgsqlParameter { Value = (object?)lotId ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Bigint });
            update.Parameters.Add(new NpgsqlParameter { Value = (object?)failure ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            update.Parameters.Add(new NpgsqlParameter { Value = time.GetUtcNow().UtcDateTime });
            update.Parameters.Add(new NpgsqlParameter { Value = payment.Status.ToDb() });
            update.Parameters.Add(new NpgsqlParameter { Value = (object?)charge?.Brand ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            update.Parameters.Add(new NpgsqlParameter { Value = (object?)charge?.Last4 ?? DBNull.Value, NpgsqlDbType = NpgsqlTypes.NpgsqlDbType.Text });
            if (failed)
            {
                update.Parameters.Add(new NpgsqlParameter { Value = userId });
                update.Parameters.Add(new NpgsqlParameter { Value = TopupFailedData(payment, failure) });
            }
            batch.BatchCommands.Add(update);
            await using var reader = await batch.ExecuteReaderAsync(ct);
            if (failed) await reader.NextResultAsync(ct); // past the lock's row
            if (await reader.ReadAsync(ct)) return Read(reader, 0);
        }
        await using var current = db.CreateCommand(
            "SELECT payment_id, fingerprint, amount, status, lot_id, failure FROM qubrid_payments WHERE payment_id = $1");
        current.Parameters.Add(new NpgsqlParameter { Value = payment.PaymentId });
        await using var row = await current.ExecuteReaderAsync(ct);
        return await row.ReadAsync(ct) ? Read(row, 0) : throw new InvalidOperationException($"Payment {payment.PaymentId} disappeared.");
    }

    /// <summary>The topup_failed event's own members: {paymentId, amount (USD), reason}.</summary>
    private static string TopupFailedData(Payment payment, string? failure)
    {
        using var buffer = new MemoryStream();
        using (var json = new System.Text.Json.Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("paymentId", payment.PaymentId);
            json.WriteNumber("amount", new Micros(payment.Amount).ToUsd());
            json.WriteString("reason", failure);
            json.WriteEndObject();
        }
        return Encoding.UTF8.GetString(buffer.ToArray());
    }

    private static Payment Read(NpgsqlDataReader r, int o) => new(r.GetString(o), r.GetString(o + 1), r.GetInt64(o + 2), PaymentStatuses.FromDb(r.GetString(o + 3)),
        r.IsDBNull(o + 4) ? null : r.GetInt64(o + 4), r.IsDBNull(o + 5) ? null : r.GetString(o + 5));
}
