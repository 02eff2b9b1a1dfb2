using Npgsql;
using NpgsqlTypes;

namespace Qubrid.Webhooks;

/// <summary>An endpoint row as the delivery loop needs it (with its secret).</summary>
public sealed record EndpointRow(
    string Id, string? UserId, string Url, string[] Events, string Secret, string State, long Cursor, int FailedAttempts,
    DateTimeOffset? FailingSince, DateTimeOffset? NextAttemptAt, DateTimeOffset? DisabledAt, string? DisabledReason, DateTimeOffset CreatedAt)
{
    public WebhookEndpoint ToView() => new(Id, UserId, Url, Events, State, CreatedAt, Cursor, FailedAttempts, NextAttemptAt, DisabledAt, DisabledReason);
}

/// <summary>The webhook tables (migration 0020). Deliveries are derived from qubrid_events through each endpoint's cursor.</summary>
public sealed class WebhookStore(NpgsqlDataSource db)
{
    /// <summary>The lock every event-writing transaction takes before drawing an id (CommitStatements.AddEvents).</summary>
    private const long EventLock = 81770001;

    private const string EndpointColumns =
        "endpoint_id, user_id, url, events, secret, state, cursor, failed_attempts, failing_since, next_attempt_at, disabled_at, disabled_reason, created_at";

    private const string EventColumns = "id, at, kind, wallet_id, session_id, reason, balance, runway_seconds, data::text";

    /// <summary>
    /// Inserts an endpoint that starts after the newest event (it receives what happens from now on), unless the user
    /// already has <paramref name="maxPerUser"/>. Null when over the limit.
    /// </summary>
    public async Task<EndpointRow?> CreateAsync(string id, CreateWebhookRequest request, string secret, DateTimeOffset now, int maxPerUser, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            $"""
            INSERT INTO qubrid_webhook_endpoints (endpoint_id, user_id, url, events, secret, state, cursor, created_at)
            SELECT $1, $2, $3, $4, $5, 'enabled', (SELECT coalesce(max(id), 0) FROM qubrid_events), $6
            WHERE $2::text IS NULL OR (SELECT count(*) FROM qubrid_webhook_endpoints WHERE user_id = $2) < $7
            RETURNING {EndpointColumns}
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)request.UserId ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        cmd.Parameters.Add(new NpgsqlParameter { Value = request.Url });
        cmd.Parameters.Add(new NpgsqlParameter { Value = request.Events.ToArray() });
        cmd.Parameters.Add(new NpgsqlParameter { Value = secret });
        cmd.Parameters.Add(new NpgsqlParameter { Value = now.UtcDateTime });
        cmd.Parameters.Add(new NpgsqlParameter { Value = maxPerUser });
        return await ReadEndpointAsync(cmd, ct);
    }

    public async Task<EndpointRow?> LoadAsync(string id, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand($"SELECT {EndpointColumns} FROM qubrid_webhook_endpoints WHERE endpoint_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        return await ReadEndpointAsync(cmd, ct);
    }

    public async Task<IReadOnlyList<WebhookEndpoint>> ListAsync(string? userId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(userId is null
            ? $"SELECT {EndpointColumns} FROM qubrid_webhook_endpoints ORDER BY created_at, endpoint_id LIMIT 1000"
            : $"SELECT {EndpointColumns} FROM qubrid_webhook_endpoints WHERE user_id = $1 ORDER BY created_at, endpoint_id LIMIT 1000");
        if (userId is not null) cmd.Parameters.Add(new NpgsqlParameter { Value = userId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var list = new List<WebhookEndpoint>();
        while (await reader.ReadAsync(ct)) list.Add(ReadEndpoint(reader).ToView());
        return list;
    }

    // R-HOOK-1: a user endpoint gets its wallet's events, an admin endpoint every event.
    /// <summary>
    /// The endpoint's next events after its cursor, oldest first, and the newest event id in the same snapshot: ids
    /// follow commit order (every event writer takes <see cref="EventLock"/>), so no event at or below it can still appear.
    /// </summary>
    public async Task<(List<BillingEvent> Events, long Horizon)> PendingAsync(EndpointRow endpoint, int limit, CancellationToken ct = default)
    {
        // A user endpoint: its own wallet's events (the admin's webhook_disabled notices are not theirs). An admin endpoint: all.
        await using var cmd = db.CreateCommand(endpoint.UserId is null
            ? $"""
              SELECT {EventColumns}, h.horizon FROM (SELECT coalesce(max(id), 0) AS horizon FROM qubrid_events) h
              LEFT JOIN LATERAL (SELECT * FROM qubrid_events WHERE id > $1 AND id <= h.horizon AND kind = ANY($2) ORDER BY id LIMIT $3) e ON true
              ORDER BY e.id
              """
            : $"""
              SELECT {EventColumns}, h.horizon FROM (SELECT coalesce(max(id), 0) AS horizon FROM qubrid_events) h
              LEFT JOIN LATERAL (SELECT * FROM qubrid_events WHERE wallet_id = $4 AND id > $1 AND id <= h.horizon AND kind = ANY($2)
                                   AND kind <> 'webhook_disabled' ORDER BY id LIMIT $3) e ON true
              ORDER BY e.id
              """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = endpoint.Cursor });
        cmd.Parameters.Add(new NpgsqlParameter { Value = endpoint.Events });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit });
        if (endpoint.UserId is not null) cmd.Parameters.Add(new NpgsqlParameter { Value = endpoint.UserId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var events = new List<BillingEvent>();
        long horizon = 0;
        while (await reader.ReadAsync(ct))
        {
            horizon = reader.GetInt64(9);
            if (!reader.IsDBNull(0)) events.Add(ReadEvent(reader));
        }
        return (events, horizon);
    }

    public async Task<BillingEvent?> FindEventAsync(long id, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand($"SELECT {EventColumns} FROM qubrid_events WHERE id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadEvent(reader) : null;
    }

    /// <summary>Moves the cursor of an endpoint with nothing left to send up to <paramref name="horizon"/> (so later reads start there).</summary>
    public async Task AdvanceIdleCursorAsync(string id, long from, long horizon, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            "UPDATE qubrid_webhook_endpoints SET cursor = $3 WHERE endpoint_id = $1 AND cursor = $2 AND failed_attempts = 0 AND $3 > $2");
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = from });
        cmd.Parameters.Add(new NpgsqlParameter { Value = horizon });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    /// <summary>
    /// Records an attempt of the event after the cursor: the delivery row, and the endpoint's cursor (success) or its
    /// retry schedule (failure), in one transaction. False when the endpoint moved meanwhile (deleted, or another
    /// activation got there first).
    /// </summary>
    public async Task<bool> RecordAttemptAsync(EndpointRow endpoint, BillingEvent e, DeliveryAttempt attempt, DateTimeOffset now,
        DateTimeOffset? nextAttemptAt, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var batch = conn.CreateBatch();
        var move = attempt.Succeeded
            ? new NpgsqlBatchCommand(
                """
                UPDATE qubrid_webhook_endpoints SET cursor = $2, failed_attempts = 0, failing_since = NULL, next_attempt_at = NULL
                WHERE endpoint_id = $1 AND cursor < $2
                """)
            : new NpgsqlBatchCommand(
                """
                UPDATE qubrid_webhook_endpoints SET failed_attempts = failed_attempts + 1, failing_since = coalesce(failing_since, $3), next_attempt_at = $4
                WHERE endpoint_id = $1 AND cursor < $2 AND state = 'enabled'
                """);
        move.Parameters.Add(new NpgsqlParameter { Value = endpoint.Id });
        move.Parameters.Add(new NpgsqlParameter { Value = e.Id });
        if (!attempt.Succeeded)
        {
            move.Parameters.Add(new NpgsqlParameter { Value = now.UtcDateTime });
            move.Parameters.Add(new NpgsqlParameter { Value = (object?)nextAttemptAt?.UtcDateTime ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.TimestampTz });
        }
        batch.BatchCommands.Add(move);
        batch.BatchCommands.Add(UpsertDelivery(endpoint.Id, e, attempt, now));
        await batch.ExecuteNonQueryAsync(ct);
        return move.RecordsAffected == 1;
    }

    private static NpgsqlBatchCommand UpsertDelivery(string endpointId, BillingEvent e, DeliveryAttempt attempt, DateTimeOffset now)
    {
        // Only while the endpoint exists (a delete in between leaves no orphan row; the foreign key would refuse one).
        var cmd = new NpgsqlBatchCommand(
            """
            INSERT INTO qubrid_webhook_deliveries (endpoint_id, event_id, event_type, status, attempts, last_attempt_at, response_status, error, delivered_at)
            SELECT $1, $2, $3, $4, 1, $5, $6, $7, CASE WHEN $4 = 'succeeded' THEN $5 END
            FROM qubrid_webhook_endpoints WHERE endpoint_id = $1
            ON CONFLICT (endpoint_id, event_id) DO UPDATE
            SET status = EXCLUDED.status, attempts = qubrid_webhook_deliveries.attempts + 1, last_attempt_at = EXCLUDED.last_attempt_at,
                response_status = EXCLUDED.response_status, error = EXCLUDED.error,
                delivered_at = coalesce(EXCLUDED.delivered_at, qubrid_webhook_deliveries.delivered_at)
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = endpointId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = e.Id });
        cmd.Parameters.Add(new NpgsqlParameter { Value = e.Kind });
        cmd.Parameters.Add(new NpgsqlParameter { Value = attempt.Succeeded ? "succeeded" : "failed" });
        cmd.Parameters.Add(new NpgsqlParameter { Value = now.UtcDateTime });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)attempt.ResponseStatus ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Integer });
        cmd.Parameters.Add(new NpgsqlParameter { Value = (object?)attempt.Error ?? DBNull.Value, NpgsqlDbType = NpgsqlDbType.Text });
        return cmd;
    }

    /// <summary>A replay: one more attempt on an existing delivery row. Returns the row as it now stands.</summary>
    public async Task<WebhookDelivery?> RecordReplayAsync(string endpointId, BillingEvent e, DeliveryAttempt attempt, DateTimeOffset now, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using (var batch = conn.CreateBatch())
        {
            batch.BatchCommands.Add(UpsertDelivery(endpointId, e, attempt, now));
            await batch.ExecuteNonQueryAsync(ct);
        }
        await using var cmd = new NpgsqlCommand(
            "SELECT delivery_id, endpoint_id, event_id, event_type, status, attempts, last_attempt_at, response_status, error, delivered_at FROM qubrid_webhook_deliveries WHERE endpoint_id = $1 AND event_id = $2",
            conn);
        cmd.Parameters.Add(new NpgsqlParameter { Value = endpointId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = e.Id });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadDelivery(reader) : null;
    }

    /// <summary>
    /// Disables the endpoint and writes <c>webhook_disabled</c> (for the admin's endpoints) in the same transaction.
    /// False if it was not enabled.
    /// </summary>
    public async Task<bool> DisableAsync(string id, string reason, DateTimeOffset now, CancellationToken ct = default)
    {
        await using var conn = await db.OpenConnectionAsync(ct);
        await using var batch = conn.CreateBatch();
        batch.BatchCommands.Add(new NpgsqlBatchCommand($"SELECT pg_advisory_xact_lock({EventLock})"));
        var disable = new NpgsqlBatchCommand(
            """
            WITH d AS (
                UPDATE qubrid_webhook_endpoints SET state = 'disabled', disabled_at = $2, disabled_reason = $3, next_attempt_at = NULL
                WHERE endpoint_id = $1 AND state = 'enabled'
                RETURNING endpoint_id, user_id, url)
            INSERT INTO qubrid_events (at, kind, wallet_id, session_id, reason, balance, runway_seconds, data)
            SELECT $2, 'webhook_disabled', coalesce(d.user_id, ''), NULL, $3,
                   coalesce((SELECT balance FROM qubrid_wallets WHERE wallet_id = d.user_id), 0), NULL,
                   jsonb_build_object('endpointId', d.endpoint_id, 'url', d.url)
            FROM d
            """);
        disable.Parameters.Add(new NpgsqlParameter { Value = id });
        disable.Parameters.Add(new NpgsqlParameter { Value = now.UtcDateTime });
        disable.Parameters.Add(new NpgsqlParameter { Value = reason });
        batch.BatchCommands.Add(disable);
        await batch.ExecuteNonQueryAsync(ct);
        return disable.RecordsAffected == 1;
    }

    /// <summary>Resumes a disabled endpoint from its first undelivered event (the cursor stays where delivery stopped).</summary>
    public async Task<EndpointRow?> EnableAsync(string id, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            $"""
            UPDATE qubrid_webhook_endpoints
            SET state = 'enabled', failed_attempts = 0, failing_since = NULL, next_attempt_at = NULL, disabled_at = NULL, disabled_reason = NULL
            WHERE endpoint_id = $1
            RETURNING {EndpointColumns}
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        return await ReadEndpointAsync(cmd, ct);
    }

    public async Task<bool> DeleteAsync(string id, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand("DELETE FROM qubrid_webhook_endpoints WHERE endpoint_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = id });
        return await cmd.ExecuteNonQueryAsync(ct) == 1;
    }

    public async Task<WebhookDeliveryPage> ListDeliveriesAsync(string endpointId, long? before, int limit, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            """
            SELECT delivery_id, endpoint_id, event_id, event_type, status, attempts, last_attempt_at, response_status, error, delivered_at
            FROM qubrid_webhook_deliveries WHERE endpoint_id = $1 AND delivery_id < $2 ORDER BY delivery_id DESC LIMIT $3
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = endpointId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = before ?? long.MaxValue });
        cmd.Parameters.Add(new NpgsqlParameter { Value = limit + 1 });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        var items = new List<WebhookDelivery>();
        while (await reader.ReadAsync(ct)) items.Add(ReadDelivery(reader));
        long? next = null;
        if (items.Count > limit)
        {
            items.RemoveAt(limit);
            next = items[^1].Id;
        }
        return new WebhookDeliveryPage(items, next);
    }

    public async Task<WebhookDelivery?> FindDeliveryAsync(string endpointId, long deliveryId, CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand(
            """
            SELECT delivery_id, endpoint_id, event_id, event_type, status, attempts, last_attempt_at, response_status, error, delivered_at
            FROM qubrid_webhook_deliveries WHERE endpoint_id = $1 AND delivery_id = $2
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = endpointId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = deliveryId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadDelivery(reader) : null;
    }

    /// <summary>The newest event id (the per-silo signal that there is something new).</summary>
    public async Task<long> LatestEventIdAsync(CancellationToken ct = default)
    {
        await using var cmd = db.CreateCommand("SELECT coalesce(max(id), 0) FROM qubrid_events");
        return (long)(await cmd.ExecuteScalarAsync(ct))!;
    }

    private static async Task<EndpointRow?> ReadEndpointAsync(NpgsqlCommand cmd, CancellationToken ct)
    {
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        return await reader.ReadAsync(ct) ? ReadEndpoint(reader) : null;
    }

    private static EndpointRow ReadEndpoint(NpgsqlDataReader r) => new(
        r.GetString(0), r.IsDBNull(1) ? null : r.GetString(1), r.GetString(2), r.GetFieldValue<string[]>(3), r.GetString(4), r.GetString(5),
        r.GetInt64(6), r.GetInt32(7), Time(r, 8), Time(r, 9), Time(r, 10), r.IsDBNull(11) ? null : r.GetString(11),
        new DateTimeOffset(r.GetDateTime(12), TimeSpan.Zero));

    private static BillingEvent ReadEvent(NpgsqlDataReader r) => new(
        r.GetInt64(0), new DateTimeOffset(r.GetDateTime(1), TimeSpan.Zero), r.GetString(2), r.GetString(3),
        r.IsDBNull(4) ? null : r.GetString(4), r.IsDBNull(5) ? null : r.GetString(5), new Micros(r.GetInt64(6)),
        r.IsDBNull(7) ? null : r.GetInt64(7), r.IsDBNull(8) ? null : r.GetString(8));

    private static WebhookDelivery ReadDelivery(NpgsqlDataReader r) => new(
        r.GetInt64(0), r.GetString(1), r.GetInt64(2), r.GetString(3), r.GetString(4), r.GetInt32(5),
        new DateTimeOffset(r.GetDateTime(6), TimeSpan.Zero), r.IsDBNull(7) ? null : r.GetInt32(7), r.IsDBNull(8) ? null : r.GetString(8), Time(r, 9));

    private static DateTimeOffset? Time(NpgsqlDataReader r, int i) => r.IsDBNull(i) ? null : new DateTimeOffset(r.GetDateTime(i), TimeSpan.Zero);
}
