namespace Qubrid.Payments;

/// <summary>The text a <see cref="PaymentStatus"/> is stored as in qubrid_payments.status.</summary>
public static class PaymentStatuses
{
    public static string ToDb(this PaymentStatus status) => status switch
    {
        PaymentStatus.Pending => "pending",
        PaymentStatus.Charged => "charged",
        PaymentStatus.Succeeded => "succeeded",
        PaymentStatus.Declined => "declined",
        PaymentStatus.Failed => "failed",
        _ => throw new ArgumentOutOfRangeException(nameof(status), status, null),
    };

    public static PaymentStatus FromDb(string text) => text switch
    {
        "pending" => PaymentStatus.Pending,
        "charged" => PaymentStatus.Charged,
        "succeeded" => PaymentStatus.Succeeded,
        "declined" => PaymentStatus.Declined,
        "failed" => PaymentStatus.Failed,
        _ => throw new InvalidOperationException($"Unknown payment status '{text}' in qubrid_payments."),
    };
}
