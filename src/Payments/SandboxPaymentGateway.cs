using Npgsql;

namespace Qubrid.Payments;

/// <summary>
/// The development and test gateway. Test tokens: <c>tok_visa</c> succeeds, <c>tok_chargeDeclined</c> is
/// declined, <c>tok_processingError</c> fails with a gateway error. It records its charges in its own table.
/// </summary>
public sealed class SandboxPaymentGateway(NpgsqlDataSource db) : IPaymentGateway
{
    public const string Success = "tok_visa";
    public const string Declined = "tok_chargeDeclined";
    public const string ProcessingError = "tok_processingError";

    public static readonly IReadOnlyList<TestCard> TestCards =
    [
        new("Visa (succeeds)", "4242 4242 4242 4242", Success, "succeeded"),
        new("Declined card", "4000 0000 0000 0002", Declined, "declined"),
        new("Processing error", "4000 0000 0000 0119", ProcessingError, "failed"),
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

/// <summary>A sandbox card: what to type, and the token the billing page sends for it.</summary>
public sealed record TestCard(string Label, string Number, string Token, string Outcome);
