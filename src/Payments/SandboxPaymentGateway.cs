using Npgsql;

namespace Qubrid.Payments;

// R-TOPUP-3: the sandbox tokens.
/// <summary>
/// The development and test gateway. Test tokens: <c>tok_visa</c> (visa 4242) and <c>tok_mastercard</c> (mastercard
/// 4444) succeed, <c>tok_chargeDeclined</c> is declined, <c>tok_processingError</c> fails with a gateway error. It records
/// its charges, with the card's brand and last 4 digits, in its own table.
/// </summary>
public sealed class SandboxPaymentGateway(NpgsqlDataSource db) : IPaymentGateway
{
    public const string Success = "tok_visa";
    public const string Mastercard = "tok_mastercard";
    public const string Declined = "tok_chargeDeclined";
    public const string ProcessingError = "tok_processingError";

    public static readonly IReadOnlyList<TestCard> TestCards =
    [
        new("Visa (succeeds)", "4242 4242 4242 4242", Success, "succeeded"),
        new("Mastercard (succeeds)", "5555 5555 5555 4444", Mastercard, "succeeded"),
        new("Declined card", "4000 0000 0000 0002", Declined, "declined"),
        new("Processing error", "4000 0000 0000 0119", ProcessingError, "failed"),
    ];

    public bool IsKnownToken(string token) => token is Success or Mastercard or Declined or ProcessingError;

    /// <summary>The card behind a test token: brand and last 4 digits.</summary>
    private static (string Brand, string Last4) CardOf(string token) => token switch
    {
        Success => ("visa", "4242"),
        Mastercard => ("mastercard", "4444"),
        Declined => ("visa", "0002"),
        _ => ("visa", "0119"),
    };

    public async Task<GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct)
    {
        var outcome = token switch
        {
            Success or Mastercard => "succeeded",
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
}

/// <summary>A sandbox card: what to type, and the token the billing page sends for it.</summary>
public sealed record TestCard(string Label, string Number, string Token, string Outcome);
