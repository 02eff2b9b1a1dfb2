using Npgsql;

namespace Qubrid.Payments;

// R-TOPUP-3: the sandbox tokens.
/// <summary>
/// The development and test gateway. Test tokens: <c>tok_visa</c> (visa 4242) and <c>tok_mastercard</c> (mastercard
/// 4444) succeed, <c>tok_chargeDeclined</c> is declined, <c>tok_processingError</c> fails with a gateway error;
/// <c>tok_refundFails</c> (visa 0341) is charged, but every refund of it fails (the failing case for refunds to the card).
/// It records its charges, with the card's brand and last 4 digits, and its refunds in its own tables.
/// </summary>
public sealed class SandboxPaymentGateway(NpgsqlDataSource db) : IPaymentGateway
{
    public const string Success = "tok_visa";
    public const string Mastercard = "tok_mastercard";
    public const string Declined = "tok_chargeDeclined";
    public const string ProcessingError = "tok_processingError";
    public const string RefundFails = "tok_refundFails";

    public static readonly IReadOnlyList<TestCard> TestCards =
    [
        new("Visa (succeeds)", "4242 4242 4242 4242", Success, "succeeded"),
        new("Mastercard (succeeds)", "5555 5555 5555 4444", Mastercard, "succeeded"),
        new("Declined card", "4000 0000 0000 0002", Declined, "declined"),
        new("Processing error", "4000 0000 0000 0119", ProcessingError, "failed"),
    ];

    public bool IsKnownToken(string token) => token is Success or Mastercard or Declined or ProcessingError or RefundFails;

    /// <summary>The card behind a test token: brand and last 4 digits.</summary>
    private static (string Brand, string Last4) CardOf(string token) => token switch
    {
        Success => ("visa", "4242"),
        Mastercard => ("mastercard", "4444"),
        Declined => ("visa", "0002"),
        RefundFails => ("visa", "0341"),
        _ => ("visa", "0119"),
    };

    public async Task<GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct)
    {
        var outcome = token switch
        {
            Success or Mastercard or RefundFails => "succeeded",
            Declined => "declined",
            _ => "failed",
        };
        var (brand, last4) = CardOf(token);
        await using var cmd = db.CreateCommand(
            "INSERT INTO qubrid_sandbox_charges (payment_id, amount, outcome, card_brand, card_last4) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (payment_id) DO NOTHING");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = amount.Value });
        cmd.Parameters.Add(new NpgsqlParameter { Value = outcome });
        cmd.Parameters.Add(new NpgsqlParameter { Value = brand });
        cmd.Parameters.Add(new NpgsqlParameter { Value = last4 });
        await cmd.ExecuteNonQueryAsync(ct);
        return (await FindChargeAsync(paymentId, ct))!;
    }

    public async Task<GatewayCharge?> FindChargeAsync(string paymentId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand("SELECT outcome, card_brand, card_last4 FROM qubrid_sandbox_charges WHERE payment_id = $1");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        await using var reader = await cmd.ExecuteReaderAsync(ct);
        if (!await reader.ReadAsync(ct)) return null;
        string? brand = reader.IsDBNull(1) ? null : reader.GetString(1), last4 = reader.IsDBNull(2) ? null : reader.GetString(2);
        return reader.GetString(0) switch
        {
            "succeeded" => new GatewayCharge(ChargeOutcome.Succeeded, "Charged.", brand, last4),
            "declined" => new GatewayCharge(ChargeOutcome.Declined, "Your card was declined.", brand, last4),
            "voided" => new GatewayCharge(ChargeOutcome.Failed, "The payment was voided before it reached the card network."),
            _ => new GatewayCharge(ChargeOutcome.Failed, "The card processor had an error; nothing was charged.", brand, last4),
        };
    }

    public async Task VoidAsync(string paymentId, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            "INSERT INTO qubrid_sandbox_charges (payment_id, amount, outcome) VALUES ($1, 0, 'voided') ON CONFLICT (payment_id) DO NOTHING");
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        await cmd.ExecuteNonQueryAsync(ct);
    }

    // R-REFUND-4: the sandbox refunds a succeeded charge once per refund id; a charge made with tok_refundFails (last 4: 0341) never refunds.
    public async Task<GatewayRefund> RefundAsync(string refundId, string paymentId, Micros amount, CancellationToken ct)
    {
        await using var cmd = db.CreateCommand(
            """
            WITH charge AS (SELECT outcome, card_last4, amount FROM qubrid_sandbox_charges WHERE payment_id = $2),
            refunded AS (SELECT coalesce(sum(amount), 0) AS total FROM qubrid_sandbox_refunds WHERE payment_id = $2 AND outcome = 'succeeded')
            INSERT INTO qubrid_sandbox_refunds (refund_id, payment_id, amount, outcome)
            SELECT $1, $2, $3, CASE WHEN c.outcome = 'succeeded' AND c.card_last4 IS DISTINCT FROM '0341' AND r.total + $3 <= c.amount
                                    THEN 'succeeded' ELSE 'failed' END
            FROM (SELECT 1) one LEFT JOIN charge c ON true CROSS JOIN refunded r
            ON CONFLICT (refund_id) DO NOTHING
            """);
        cmd.Parameters.Add(new NpgsqlParameter { Value = refundId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = paymentId });
        cmd.Parameters.Add(new NpgsqlParameter { Value = amount.Value });
        await cmd.ExecuteNonQueryAsync(ct);
        await using var read = db.CreateCommand("SELECT outcome FROM qubrid_sandbox_refunds WHERE refund_id = $1");
        read.Parameters.Add(new NpgsqlParameter { Value = refundId });
        return (string?)await read.ExecuteScalarAsync(ct) == "succeeded"
            ? new GatewayRefund(true, "Refunded to the card.")
            : new GatewayRefund(false, "The card network refused the refund; nothing was refunded.");
    }
}

/// <summary>A sandbox card: what to type, and the token the billing page sends for it.</summary>
public sealed record TestCard(string Label, string Number, string Token, string Outcome);
