using Npgsql;
using NpgsqlTypes;

namespace Qubrid.Promotions;

/// <summary>A code as stored: its promotion, and for a single-use code the wallet that took it.</summary>
public sealed record PromotionCode(string Code, string PromotionId, bool SingleUse, string? RedeemedBy);

/// <summary>A wallet's reservation of a promotion: pending until the wallet's grant is committed, then done with its lot.</summary>
public sealed record Reservation(string PromotionId, string WalletId, string IdempotencyKey, string Code, bool Done, Micros Amount,
    DateTimeOffset LotExpiresAt, long? LotId);

/// <summary>How a redemption's key was first answered.</summary>
public sealed record RedemptionKeyRecord(string Code, RedemptionStatus Status, string? PromotionId, string? Detail);

/// <summary>What the reservation's transaction found.</summary>
public enum ReserveOutcome : byte
{
    Reserved = 1,
    CapReachedOrDisabled = 2,
    CodeTaken = 3,
    AlreadyRedeemed = 4,
    KeyTaken = 5,
}

/// <summary>The promotion tables (migration 0060). Each call is one statement or one transaction.</summary>
public sealed class PromotionStore(NpgsqlDataSource db)
{
    private const string Columns = "promotion_id, shared_code, code_count, amount, lot_expires_at, lot_valid_days, starts_at, ends_at, "
        + "max_redemptions, redemptions, new_wallets_only, created_at, disabled_at";

    /// <summary>Writes the promotion and its codes in one transaction; false (nothing written) when a code is taken already.</summary>
    public async Task<bool> InsertAsync(PromotionView p, IReadOnlyList<string> codes)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        await using (var insert = new NpgsqlCommand($"INSERT INTO qubrid_promotions ({Columns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11, NULL)", connection, tx))
        {
            insert.Parameters.Add(new() { Value = p.PromotionId });
            insert.Parameters.Add(new() { Value = (object?)p.Code ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
            insert.Parameters.Add(new() { Value = (object?)p.CodeCount ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new() { Value = p.Amount.Value });
            insert.Parameters.Add(new() { Value = (object?)p.LotExpiresAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            insert.Parameters.Add(new() { Value = (object?)p.LotValidDays ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new() { Value = (object?)p.StartsAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            insert.Parameters.Add(new() { Value = (object?)p.EndsAt ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
            insert.Parameters.Add(new() { Value = (object?)p.MaxRedemptions ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
            insert.Parameters.Add(new() { Value = p.NewWalletsOnly });
            insert.Parameters.Add(new() { Value = p.CreatedAt });
            await insert.ExecuteNonQueryAsync();
        }
        await using (var insertCodes = new NpgsqlCommand(
            "INSERT INTO qubrid_promotion_codes (code, promotion_id, single_use) SELECT c, $2, $3 FROM unnest($1::text[]) AS c ON CONFLICT (code) DO NOTHING",
            connection, tx))
        {
            insertCodes.Parameters.Add(new() { Value = codes.ToArray() });
            insertCodes.Parameters.Add(new() { Value = p.PromotionId });
            insertCodes.Parameters.Add(new() { Value = p.Code is null });
            if (await insertCodes.ExecuteNonQueryAsync() != codes.Count) return false; // disposing rolls back
        }
        await tx.CommitAsync();
        return true;
    }

    public async Task<PromotionView?> ReadAsync(string promotionId)
    {
        await using var cmd = db.CreateCommand($"SELECT {Columns} FROM qubrid_promotions WHERE promotion_id = $1");
        cmd.Parameters.Add(new() { Value = promotionId });
        await using var reader = await cmd.ExecuteReaderAsync();
        return await reader.ReadAsync() ? ReadView(reader) : null;
    }

    public async Task<IReadOnlyList<PromotionView>> ListAsync(int limit)
    {
        await using var cmd = db.CreateCommand($"SELECT {Columns} FROM qubrid_promotions ORDER BY created_at DESC, promotion_id LIMIT $1");
        cmd.Parameters.Add(new() { Value = limit });
        await using var reader = await cmd.ExecuteReaderAsync();
        var items = new List<PromotionView>();
        while (await reader.ReadAsync()) items.Add(ReadView(reader));
        return items;
    }

    private static PromotionView ReadView(NpgsqlDataReader r) => new(
        r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.IsDBNull(2) ? null : r.GetInt32(2), new Micros(r.GetInt64(3)),
        Time(r, 4), r.IsDBNull(5) ? null : r.GetInt32(5), Time(r, 6), Time(r, 7), r.IsDBNull(8) ? null : r.GetInt32(8),
        r.GetInt32(9), r.GetBoolean(10), r.GetFieldValue<DateTimeOffset>(11), Time(r, 12));

    private static DateTimeOffset? Time(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : r.GetFieldValue<DateTimeOffset>(i);

    public async Task DisableAsync(string promotionId, DateTimeOffset at)
    {
        await using var cmd = db.CreateCommand("UPDATE qubrid_promotions SET disabled_at = $2 WHERE promotion_id = $1 AND disabled_at IS NULL");
        cmd.Parameters.Add(new() { Value = promotionId });
        cmd.Parameters.Add(new() { Value = at });
        await cmd.ExecuteNonQueryAsync();
    }

    public async Task<PromotionCode?> FindCodeAsync(string code)
    {
        await using var cmd = db.CreateCommand("SELECT code, promotion_id, single_use, redeemed_by FROM qubrid_promotion_codes WHERE code = $1");
        cmd.Parameters.Add(new() { Value = code });
        await using var reader = await cmd.ExecuteReaderAsync();
        return await reader.ReadAsync()
            ? new PromotionCode(reader.GetString(0), reader.GetString(1), reader.GetBoolean(2), reader.IsDBNull(3) ? null : reader.GetString(3))
            : null;
    }

    /// <summary>When the wallet was created, or null when it does not exist.</summary>
    public async Task<DateTimeOffset?> WalletCreatedAtAsync(string walletId)
    {
        await using var cmd = db.CreateCommand("SELECT created_at FROM qubrid_wallets WHERE wallet_id = $1");
        cmd.Parameters.Add(new() { Value = walletId });
        await using var reader = await cmd.ExecuteReaderAsync();
        return await reader.ReadAsync() ? reader.GetFieldValue<DateTimeOffset>(0) : null;
    }

    private const string ReservationColumns = "promotion_id, wallet_id, idempotency_key, code, state, amount, lot_expires_at, lot_id";

    public async Task<Reservation?> FindReservationAsync(string promotionId, string walletId)
    {
        var found = await ReservationsAsync("promotion_id = $1 AND wallet_id = $2", promotionId, walletId);
        return found.Count == 0 ? null : found[0];
    }

    /// <summary>Reservations whose grant is not known to be committed, oldest first (bounded: a promotion grain completes them in turns).</summary>
    public Task<IReadOnlyList<Reservation>> PendingAsync(string promotionId) =>
        ReservationsAsync("promotion_id = $1 AND state = 'pending' ORDER BY created_at LIMIT 1000", promotionId);

    private async Task<IReadOnlyList<Reservation>> ReservationsAsync(string where, params object[] args)
    {
        await using var cmd = db.CreateCommand($"SELECT {ReservationColumns} FROM qubrid_promotion_redemptions WHERE {where}");
        foreach (var a in args) cmd.Parameters.Add(new() { Value = a });
        await using var reader = await cmd.ExecuteReaderAsync();
        var items = new List<Reservation>();
        while (await reader.ReadAsync())
        {
            items.Add(new Reservation(reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.GetString(3), reader.GetString(4) == "done",
                new Micros(reader.GetInt64(5)), reader.GetFieldValue<DateTimeOffset>(6), reader.IsDBNull(7) ? null : reader.GetInt64(7)));
        }
        return items;
    }

    // R-PROMO-4: the count moves in the reservation's transaction, only under the cap and while active; (promotion, wallet)
    // is unique and a single-use code goes to one wallet, so the database holds the cap even if two activations raced.
    /// <summary>
    /// In one transaction: counts the redemption (under the cap, while not disabled), takes a single-use code, writes the
    /// pending reservation and the key's record. Anything refused rolls all of it back.
    /// </summary>
    public async Task<ReserveOutcome> ReserveAsync(Reservation r, bool singleUse, int? cap, DateTimeOffset at)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        if (await ExecAsync(connection, tx, """
            UPDATE qubrid_promotions SET redemptions = redemptions + 1
            WHERE promotion_id = $1 AND disabled_at IS NULL AND redemptions < $2
            """, r.PromotionId, cap ?? int.MaxValue) != 1)
            return ReserveOutcome.CapReachedOrDisabled;
        if (singleUse && await ExecAsync(connection, tx,
                "UPDATE qubrid_promotion_codes SET redeemed_by = $2 WHERE code = $1 AND redeemed_by IS NULL", r.Code, r.WalletId) != 1)
            return ReserveOutcome.CodeTaken;
        if (await ExecAsync(connection, tx, $"""
            INSERT INTO qubrid_promotion_redemptions ({ReservationColumns}, created_at) VALUES ($1, $2, $3, $4, 'pending', $5, $6, NULL, $7)
            ON CONFLICT (promotion_id, wallet_id) DO NOTHING
            """, r.PromotionId, r.WalletId, r.IdempotencyKey, r.Code, r.Amount.Value, r.LotExpiresAt, at) != 1)
            return ReserveOutcome.AlreadyRedeemed;
        if (await ExecAsync(connection, tx, """
            INSERT INTO qubrid_redemption_keys (wallet_id, idempotency_key, code, status, promotion_id, detail, created_at)
            VALUES ($1, $2, $3, 'redeemed', $4, NULL, $5) ON CONFLICT (wallet_id, idempotency_key) DO NOTHING
            """, r.WalletId, r.IdempotencyKey, r.Code, r.PromotionId, at) != 1)
            return ReserveOutcome.KeyTaken;
        await tx.CommitAsync();
        return ReserveOutcome.Reserved;
    }

    public async Task MarkDoneAsync(string promotionId, string walletId, long lotId)
    {
        await using var cmd = db.CreateCommand(
            "UPDATE qubrid_promotion_redemptions SET state = 'done', lot_id = $3 WHERE promotion_id = $1 AND wallet_id = $2 AND state = 'pending'");
        cmd.Parameters.Add(new() { Value = promotionId });
        cmd.Parameters.Add(new() { Value = walletId });
        cmd.Parameters.Add(new() { Value = lotId });
        await cmd.ExecuteNonQueryAsync();
    }

    /// <summary>Undoes a pending reservation the wallet refused to grant: the count, the code and the key's record, in one transaction.</summary>
    public async Task ReleaseAsync(Reservation r)
    {
        await using var connection = await db.OpenConnectionAsync();
        await using var tx = await connection.BeginTransactionAsync();
        if (await ExecAsync(connection, tx, "DELETE FROM qubrid_promotion_redemptions WHERE promotion_id = $1 AND wallet_id = $2 AND state = 'pending'",
                r.PromotionId, r.WalletId) != 1)
            return;
        await ExecAsync(connection, tx, "UPDATE qubrid_promotions SET redemptions = redemptions - 1 WHERE promotion_id = $1", r.PromotionId);
        await ExecAsync(connection, tx, "UPDATE qubrid_promotion_codes SET redeemed_by = NULL WHERE code = $1 AND redeemed_by = $2", r.Code, r.WalletId);
        await ExecAsync(connection, tx, "DELETE FROM qubrid_redemption_keys WHERE wallet_id = $1 AND idempotency_key = $2", r.WalletId, r.IdempotencyKey);
        await tx.CommitAsync();
    }

    public async Task<RedemptionKeyRecord?> ReadKeyAsync(string walletId, string key)
    {
        await using var cmd = db.CreateCommand(
            "SELECT code, status, promotion_id, detail FROM qubrid_redemption_keys WHERE wallet_id = $1 AND idempotency_key = $2");
        cmd.Parameters.Add(new() { Value = walletId });
        cmd.Parameters.Add(new() { Value = key });
        await using var reader = await cmd.ExecuteReaderAsync();
        if (!await reader.ReadAsync()) return null;
        return new RedemptionKeyRecord(reader.GetString(0), Enum.Parse<RedemptionStatus>(reader.GetString(1), ignoreCase: true),
            reader.IsDBNull(2) ? null : reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3));
    }

    /// <summary>Records a refusal under the key (the first answer wins when two requests with one key race).</summary>
    public async Task RecordRefusalAsync(RedemptionRequest request, RedemptionResult refusal, DateTimeOffset at)
    {
        await using var cmd = db.CreateCommand("""
            INSERT INTO qubrid_redemption_keys (wallet_id, idempotency_key, code, status, promotion_id, detail, created_at)
            VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (wallet_id, idempotency_key) DO NOTHING
            """);
        cmd.Parameters.Add(new() { Value = request.WalletId });
        cmd.Parameters.Add(new() { Value = request.IdempotencyKey });
        cmd.Parameters.Add(new() { Value = request.Code });
        cmd.Parameters.Add(new() { Value = refusal.Status.ToString().ToLowerInvariant() });
        cmd.Parameters.Add(new() { Value = (object?)refusal.PromotionId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = (object?)refusal.Detail ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new() { Value = at });
        await cmd.ExecuteNonQueryAsync();
    }

    private static async Task<int> ExecAsync(NpgsqlConnection connection, NpgsqlTransaction tx, string sql, params object[] args)
    {
        await using var cmd = new NpgsqlCommand(sql, connection, tx);
        foreach (var a in args) cmd.Parameters.Add(new() { Value = a });
        return await cmd.ExecuteNonQueryAsync();
    }
}
