using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

[Collection(ApiCollection.Name)]
public class TopupApiTests(ApiHost api)
{

    [Fact]
    [Trait("Rule", "R-LOT-1")]
    [Trait("Rule", "R-TOPUP-2")]
    public async Task A_successful_topup_adds_exactly_the_amount_as_a_purchased_lot()
    {
        var (userId, user) = await api.NewUserAsync("topup");
        var response = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 25.5m, paymentToken = "tok_visa" }, "k1"));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var body = await Json(response);
        Assert.Equal("succeeded", body.GetProperty("status").GetString());
        Assert.Equal(25.5m, body.GetProperty("amount").GetDecimal());

        var wallet = await Json(await user.GetAsync($"/v1/wallets/{userId}"));
        Assert.Equal(30.5m, wallet.GetProperty("total").GetDecimal());
        Assert.Equal(25.5m, wallet.GetProperty("purchased").GetDecimal());
        var lots = (await Json(await user.GetAsync($"/v1/wallets/{userId}/lots"))).GetProperty("items").EnumerateArray().ToList();
        var lot = Assert.Single(lots, l => l.GetProperty("id").GetInt64() == body.GetProperty("lotId").GetInt64());
        Assert.Equal("purchased", lot.GetProperty("kind").GetString());
        Assert.Equal(JsonValueKind.Null, lot.GetProperty("expiresAt").ValueKind);
    }

    [Fact]
    [Trait("Rule", "R-TOPUP-1")]
    public async Task A_topup_is_5_to_10000_usd_with_a_known_token_and_the_options_name_the_presets_and_bounds()
    {
        var (userId, user) = await api.NewUserAsync("topup-bounds");
        var options = await Json(await user.GetAsync("/v1/topup-options"));
        Assert.Equal([10m, 25m, 50m, 100m], options.GetProperty("presets").EnumerateArray().Select(p => p.GetDecimal()));
        Assert.Equal(5m, options.GetProperty("min").GetDecimal());
        Assert.Equal(10_000m, options.GetProperty("max").GetDecimal());

        foreach (var (amount, token, code) in new[] { (4.99m, "tok_visa", "invalid_amount"), (10_000.01m, "tok_visa", "invalid_amount"), (10m, "tok_nope", "invalid_request") })
        {
            var refused = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount, paymentToken = token }, $"k-{amount}-{token}"));
            Assert.Equal(HttpStatusCode.BadRequest, refused.StatusCode);
            Assert.Equal(code, (await Json(refused)).GetProperty("code").GetString());
        }
        Assert.Equal(5m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());

        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 5m, paymentToken = "tok_visa" }, "k-min"))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 10_000m, paymentToken = "tok_visa" }, "k-max"))).StatusCode);
        Assert.Equal(10_010m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
    }

    [Theory]
    [InlineData("tok_chargeDeclined", HttpStatusCode.PaymentRequired, "payment_declined")]
    [InlineData("tok_processingError", HttpStatusCode.BadGateway, "payment_failed")]
    [Trait("Rule", "R-TOPUP-3")]
    public async Task A_declined_or_failed_payment_adds_nothing_and_says_why(string token, HttpStatusCode status, string code)
    {
        var (userId, user) = await api.NewUserAsync("decline");
        var response = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 25, paymentToken = token }, "k1"));
        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        Assert.Equal(code, (await Json(response)).GetProperty("code").GetString());
        Assert.Equal(5m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
        var ledger = (await Json(await user.GetAsync($"/v1/wallets/{userId}/ledger"))).GetProperty("items");
        Assert.Equal(1, ledger.GetArrayLength());
    }

    [Fact]
    [Trait("Rule", "R-IDEM-2")]
    public async Task Replaying_a_topup_returns_the_identical_body_and_a_different_body_under_the_key_is_409()
    {
        var (userId, user) = await api.NewUserAsync("replay");
        var first = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_visa" }, "same"));
        var second = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_visa" }, "same"));
        var other = await user.SendAsync(ApiHost.Post($"/v1/wallets/{userId}/topups", new { amount = 11, paymentToken = "tok_visa" }, "same"));
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
        Assert.Equal(await first.Content.ReadAsStringAsync(), await second.Content.ReadAsStringAsync());
        Assert.Equal(HttpStatusCode.Conflict, other.StatusCode);
        Assert.Equal("idempotency_conflict", (await Json(other)).GetProperty("code").GetString());
        Assert.Equal(15m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-TOPUP-2")]
    public async Task A_request_whose_payment_the_recovery_loop_settled_meanwhile_answers_with_that_lot_never_moves_it_back_and_credits_nothing_more()
    {
        var (userId, user) = await api.NewUserAsync("race");
        var services = api.Factory.Services;
        var gateway = new HeldGateway(new Qubrid.Payments.SandboxPaymentGateway(api.Db));
        var topups = new Qubrid.Payments.TopupService(api.Db, gateway, (IClusterClient)services.GetService(typeof(IClusterClient))!, TimeProvider.System);
        await TestDatabase.ExecAsync(api.Db, """
            CREATE TABLE IF NOT EXISTS test_payment_moves (payment_id text, from_status text, to_status text);
            CREATE OR REPLACE FUNCTION test_log_payment_move() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO test_payment_moves VALUES (NEW.payment_id, OLD.status, NEW.status);
                RETURN NEW;
            END $$;
            DROP TRIGGER IF EXISTS test_log_payment_move ON qubrid_payments;
            CREATE TRIGGER test_log_payment_move AFTER UPDATE ON qubrid_payments FOR EACH ROW EXECUTE FUNCTION test_log_payment_move();
            """);

        // The request's card charge has reached the network, but its answer is slow to come back...
        var request = topups.TopupAsync(userId, Micros.FromUsd(10m), "tok_visa", "race-key", CancellationToken.None);
        await gateway.Charged.Task;
        // ...so the recovery loop finds the payment pending, learns from the gateway that it was charged, and settles it.
        await topups.SettleStaleAsync(TimeSpan.Zero, CancellationToken.None);
        Assert.Equal("succeeded", await StatusAsync(userId));
        gateway.Release.SetResult();
        var result = Qubrid.Api.Apis.WalletsApi.TopupAnswer(await request, userId, "race-key").Result;

        var created = Assert.IsType<Microsoft.AspNetCore.Http.HttpResults.Created<Qubrid.Payments.TopupResult>>(result);
        Assert.Equal("succeeded", created.Value!.Status);
        Assert.Equal("succeeded", await StatusAsync(userId));
        Assert.Equal(15m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal());
        var lots = (await Json(await user.GetAsync($"/v1/wallets/{userId}/lots"))).GetProperty("items").EnumerateArray()
            .Where(l => l.GetProperty("kind").GetString() == "purchased").ToList();
        Assert.Equal(created.Value.LotId, Assert.Single(lots).GetProperty("id").GetInt64());
        Assert.Equal(0, await TestDatabase.ScalarAsync(api.Db, // a settled payment never moved back
            "SELECT count(*) FROM test_payment_moves m JOIN qubrid_payments p USING (payment_id) WHERE p.user_id = $1 AND m.from_status = 'succeeded' AND m.to_status <> 'succeeded'", userId));
    }

    private async Task<string> StatusAsync(string userId)
    {
        await using var cmd = api.Db.CreateCommand("SELECT status FROM qubrid_payments WHERE user_id = $1");
        cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = userId });
        return (string)(await cmd.ExecuteScalarAsync())!;
    }

    /// <summary>A gateway whose charge goes through at once but whose answer is held until the test releases it.</summary>
    private sealed class HeldGateway(Qubrid.Payments.IPaymentGateway inner) : Qubrid.Payments.IPaymentGateway
    {
        public TaskCompletionSource Charged { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool IsKnownToken(string token) => inner.IsKnownToken(token);

        public async Task<Qubrid.Payments.GatewayCharge> ChargeAsync(string paymentId, Micros amount, string token, CancellationToken ct)
        {
            var charge = await inner.ChargeAsync(paymentId, amount, token, ct);
            Charged.TrySetResult();
            await Release.Task;
            return charge;
        }

        public Task<Qubrid.Payments.GatewayCharge?> FindChargeAsync(string paymentId, CancellationToken ct) => inner.FindChargeAsync(paymentId, ct);

        public Task VoidAsync(string paymentId, CancellationToken ct) => inner.VoidAsync(paymentId, ct);

        public Task<Qubrid.Payments.GatewayRefund> RefundAsync(string refundId, string paymentId, Micros amount, CancellationToken ct) =>
            inner.RefundAsync(refundId, paymentId, amount, ct);
    }

    [Fact]
    [Trait("Rule", "R-TOPUP-4")]
    public async Task A_payment_a_crash_left_charged_but_not_credited_is_credited_once_by_recovery()
    {
        var (userId, user) = await api.NewUserAsync("recover");
        // What a crash between the card charge and the credit leaves behind: a charged payment row, 5 minutes old on the
        // host's clock (the one the API's payments are written and judged stale by).
        var fiveMinutesAgo = api.Clock.GetUtcNow().AddMinutes(-5);
        await TestDatabase.ExecAsync(api.Db,
            "INSERT INTO qubrid_payments (payment_id, user_id, idempotency_key, fingerprint, amount, status, created_at, updated_at) VALUES ($1, $2, 'crash', 'x', 7000000, 'charged', $3, $3)",
            $"pay_crash_{userId}", userId, fiveMinutesAgo);
        await TestDatabase.ExecAsync(api.Db,
            "INSERT INTO qubrid_payments (payment_id, user_id, idempotency_key, fingerprint, amount, status, created_at, updated_at) VALUES ($1, $2, 'lost', 'y', 9000000, 'pending', $3, $3)",
            $"pay_lost_{userId}", userId, fiveMinutesAgo);
        var topups = (Qubrid.Payments.TopupService)api.Factory.Services.GetService(typeof(Qubrid.Payments.TopupService))!;

        await topups.SettleStaleAsync(TimeSpan.FromMinutes(1), CancellationToken.None);
        await topups.SettleStaleAsync(TimeSpan.FromMinutes(1), CancellationToken.None);

        Assert.Equal(12m, (await Json(await user.GetAsync($"/v1/wallets/{userId}"))).GetProperty("total").GetDecimal()); // 5 + 7, not + 9
        Assert.Equal("succeeded", await StatusOf($"pay_crash_{userId}"));
        Assert.Equal("failed", await StatusOf($"pay_lost_{userId}")); // never reached the gateway: voided, nothing credited

        async Task<string> StatusOf(string id)
        {
            await using var cmd = api.Db.CreateCommand("SELECT status FROM qubrid_payments WHERE payment_id = $1");
            cmd.Parameters.Add(new Npgsql.NpgsqlParameter { Value = id });
            return (string)(await cmd.ExecuteScalarAsync())!;
        }
    }
}
