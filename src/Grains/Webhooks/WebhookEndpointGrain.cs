using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Orleans.Concurrency;

namespace Qubrid.Webhooks;

/// <summary>
/// Delivers one endpoint's events in order, at least once. The durable state is the endpoint row (its cursor and
/// retry schedule); the activation only runs the loop. A reminder keeps the grain activated somewhere in the cluster,
/// so when the silo that was delivering dies, another silo picks the endpoint up at the next reminder tick and resumes
/// from the cursor: an event sent but not yet recorded is sent again (at least once), none is skipped.
/// </summary>
[Reentrant]
public sealed partial class WebhookEndpointGrain(
    WebhookStore store, WebhookSender sender, WebhookSignal signal, IOptions<WebhookOptions> options, TimeProvider time,
    ILogger<WebhookEndpointGrain> logger) : Grain, IWebhookEndpointGrain, IRemindable
{
    private const string KeepAlive = "webhook-keepalive";
    private readonly WebhookOptions _options = options.Value;
    private bool _pumping;
    private long _seenHorizon = -1; // the newest event id after which this endpoint had nothing to send

    private string Id => this.GetPrimaryKeyString();

    public override Task OnActivateAsync(CancellationToken cancellationToken)
    {
        this.RegisterGrainTimer(PumpAsync, new GrainTimerCreationOptions(TimeSpan.Zero, _options.PollInterval) { KeepAlive = true, Interleave = true });
        return Task.CompletedTask;
    }

    public async Task Wake()
    {
        if (await this.GetReminder(KeepAlive) is null)
            await this.RegisterOrUpdateReminder(KeepAlive, _options.KeepAlivePeriod, _options.KeepAlivePeriod);
        _seenHorizon = -1;
    }

    public async Task ReceiveReminder(string reminderName, TickStatus status)
    {
        // Being called is the point (it activates the grain and its loop); an endpoint that is gone retires its reminder.
        if (await store.LoadAsync(Id) is null) await RetireAsync();
    }

    public async Task<WebhookEndpoint?> Get() => (await store.LoadAsync(Id))?.ToView();

    public async Task<WebhookEndpoint?> Enable()
    {
        var row = await store.EnableAsync(Id);
        if (row is null) return null;
        await Wake();
        LogEnabled(logger, Id, row.Cursor);
        return row.ToView();
    }

    public async Task<bool> Delete()
    {
        bool deleted = await store.DeleteAsync(Id);
        await RetireAsync();
        return deleted;
    }

    public async Task<WebhookDeliveryPage?> ListDeliveries(long? before, int limit)
    {
        if (await store.LoadAsync(Id) is null) return null;
        return await store.ListDeliveriesAsync(Id, before, Math.Clamp(limit, 1, 500));
    }

    public async Task<WebhookDelivery?> Replay(long deliveryId)
    {
        var endpoint = await store.LoadAsync(Id);
        if (endpoint is null) return null;
        var delivery = await store.FindDeliveryAsync(Id, deliveryId);
        if (delivery is null) return null;
        var e = await store.FindEventAsync(delivery.EventId);
        if (e is null) return null;
        var attempt = await sender.SendAsync(endpoint, e);
        return await store.RecordReplayAsync(Id, e, attempt, time.GetUtcNow());
    }

    private async Task RetireAsync()
    {
        if (await this.GetReminder(KeepAlive) is { } reminder) await this.UnregisterReminder(reminder);
        this.DeactivateOnIdle();
    }

    /// <summary>
    /// One turn of the loop: send the events after the cursor in order, recording each before the next; stop at the
    /// first failure (its retry is scheduled) or after <see cref="WebhookOptions.MaxPumpDuration"/>.
    /// </summary>
    private async Task PumpAsync(CancellationToken ct)
    {
        if (_pumping) return;
        _pumping = true;
        try
        {
            long started = time.GetTimestamp();
            while (time.GetElapsedTime(started) < _options.MaxPumpDuration)
            {
                var endpoint = await store.LoadAsync(Id, ct);
                if (endpoint is null)
                {
                    await RetireAsync();
                    return;
                }
                if (endpoint.State != WebhookStates.Enabled) return;
                var now = time.GetUtcNow();
                if (endpoint.NextAttemptAt is { } next && next > now) return;
                if (endpoint.FailedAttempts == 0 && signal.LatestEventId <= _seenHorizon) return; // nothing new anywhere

                var (events, horizon) = await store.PendingAsync(endpoint, _options.BatchSize, ct);
                foreach (var e in events)
                {
                    if (!await DeliverAsync(endpoint, e, ct)) return;
                    endpoint = endpoint with { Cursor = e.Id, FailedAttempts = 0, FailingSince = null, NextAttemptAt = null };
                    if (time.GetElapsedTime(started) >= _options.MaxPumpDuration) return;
                }
                if (events.Count < _options.BatchSize)
                {
                    // Everything up to the horizon is done: later reads start there (an admin endpoint filtering on rare kinds
                    // would otherwise scan from an old cursor every time).
                    await store.AdvanceIdleCursorAsync(Id, endpoint.Cursor, horizon, ct);
                    _seenHorizon = horizon;
                    return;
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            LogPumpFailed(logger, Id, e.Message); // the database or the network; the next tick tries again
        }
        finally
        {
            _pumping = false;
        }
    }

    // R-HOOK-3: one event in flight, at least once, in order; a failure waits RetryDelay.
    // R-HOOK-4: after GiveUpAfter of failures the endpoint is disabled, webhook_disabled in the same transaction.
    /// <summary>Sends one event and records the attempt; false when it failed (the retry is scheduled, or the endpoint disabled).</summary>
    private async Task<bool> DeliverAsync(EndpointRow endpoint, BillingEvent e, CancellationToken ct)
    {
        var attempt = await sender.SendAsync(endpoint, e, ct);
        var now = time.GetUtcNow();
        if (attempt.Succeeded)
        {
            await store.RecordAttemptAsync(endpoint, e, attempt, now, null, ct);
            BillingDiagnostics.Write(new BillingDiagnostics.WebhookAttemptRecorded(Id, e.Id, Succeeded: true));
            return true;
        }
        int failures = endpoint.FailedAttempts + 1;
        var failingSince = endpoint.FailingSince ?? now;
        var giveUpAt = failingSince + _options.GiveUpAfter;
        if (now >= giveUpAt)
        {
            await store.RecordAttemptAsync(endpoint, e, attempt, now, null, ct);
            BillingDiagnostics.Write(new BillingDiagnostics.WebhookAttemptRecorded(Id, e.Id, Succeeded: false));
            var reason = $"Event {WebhookPayload.EventId(e.Id)} could not be delivered for {_options.GiveUpAfter} ({failures} attempts); last: {attempt.Error}";
            if (await store.DisableAsync(Id, reason, now, ct)) LogDisabled(logger, Id, endpoint.Url, failures);
            return false;
        }
        var nextAttempt = now + _options.RetryDelay(failures);
        if (nextAttempt > giveUpAt) nextAttempt = giveUpAt; // the last try falls on the deadline itself
        await store.RecordAttemptAsync(endpoint, e, attempt, now, nextAttempt, ct);
        BillingDiagnostics.Write(new BillingDiagnostics.WebhookAttemptRecorded(Id, e.Id, Succeeded: false));
        LogAttemptFailed(logger, Id, e.Id, failures, attempt.Error, nextAttempt);
        return false;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {EndpointId} failed to deliver event {EventId} (attempt {Attempts}: {Error}); next try at {NextAttemptAt}")]
    private static partial void LogAttemptFailed(ILogger logger, string endpointId, long eventId, int attempts, string? error, DateTimeOffset nextAttemptAt);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {EndpointId} ({Url}) disabled after {Attempts} failed attempts")]
    private static partial void LogDisabled(ILogger logger, string endpointId, string url, int attempts);

    [LoggerMessage(Level = LogLevel.Information, Message = "Webhook {EndpointId} enabled; delivery resumes after event {Cursor}")]
    private static partial void LogEnabled(ILogger logger, string endpointId, long cursor);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Webhook {EndpointId}: the delivery loop failed ({Reason}); it tries again on its next tick")]
    private static partial void LogPumpFailed(ILogger logger, string endpointId, string reason);
}
