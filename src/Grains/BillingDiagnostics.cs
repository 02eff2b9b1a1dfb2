using System.Diagnostics;

namespace Qubrid;

/// <summary>
/// Diagnostic events (a <see cref="DiagnosticListener"/> named <see cref="ListenerName"/>) for outcomes that become durable
/// after the call that caused them has returned, so that a subscriber in the same process (a test, a profiler) can wait
/// for one instead of polling for its effect. Each is written once the outcome is committed; nothing is allocated
/// while nobody listens.
/// </summary>
public static class BillingDiagnostics
{
    public const string ListenerName = "Qubrid.Billing";
    private static readonly DiagnosticListener Listener = new(ListenerName);

    /// <summary>The webhook delivery loop recorded an attempt to send an event to an endpoint: its delivery row is written.</summary>
    public sealed record WebhookAttemptRecorded(string EndpointId, long EventId, bool Succeeded);

    /// <summary>The wallet committed how an auto top-up attempt ended (the credit, when it succeeded, was committed before).</summary>
    public sealed record AutoTopupSettled(string WalletId, long Attempt, bool Succeeded);

    /// <summary>The wallet committed how a refund to the card ended (its card_refund entry, or the release of its reservation).</summary>
    public sealed record CardRefundSettled(string WalletId, string RefundId, bool Succeeded);

    internal static void Write<T>(T e) where T : class
    {
        if (Listener.IsEnabled(typeof(T).Name)) Listener.Write(typeof(T).Name, e);
    }
}
