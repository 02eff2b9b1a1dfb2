using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Qubrid.Tests.Infrastructure;
using static Microsoft.Playwright.Assertions;

namespace Qubrid.Tests.Browser;

/// <summary>
/// The billing page (src/Api/wwwroot) in headless Chromium against the real API and silo on a loopback port.
/// Every wait is an auto-waiting Playwright expectation or a bounded wait for reminder ticks (<see cref="ReminderTicks"/>).
/// The tests in the <see cref="BrowserHost.EndToEnd"/> category need nothing but the API and the default
/// configuration: scripts/test.sh also runs them against the system started by scripts/start.sh and by
/// scripts/cluster.sh up 2 (see <see cref="BrowserHost"/>). The session test and the screenshot test need the 1-second
/// charge interval of the in-process hosts (and the session test its reminder ticks): those two run in-process only.
/// The screenshot test writes next to the test binaries (<see cref="ScreenshotFolder"/>); scripts/screenshots.sh copies
/// its files to docs/screenshots.
/// </summary>
[Collection(BrowserCollection.Name)]
public sealed class BillingPageTests(BrowserHost host) : IAsyncLifetime
{
    private const string SuccessCard = "4242 4242 4242 4242";
    private const string DeclineCard = "4000 0000 0000 0002";

    /// <summary>Where the screenshot test writes: the test output, so that a run leaves the checkout clean.</summary>
    public static string ScreenshotFolder => Path.Combine(AppContext.BaseDirectory, "screenshots");
    private IPage _page = null!;

    public async Task InitializeAsync() => _page = await host.NewPageAsync();

    public async Task DisposeAsync() => await _page.Context.CloseAsync();

    // ---------------------------------------------------------------- tests

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    [Trait("Rule", "R-MONEY-5")]
    public async Task The_navbar_balance_after_sign_in_is_the_APIs_total_to_the_cent_with_the_exact_value_in_data_exact()
    {
        var (userId, key, user) = await host.NewUserAsync("navbar");
        await AdjustAsync(userId, 1.234567m); // 5 + 1.234567: a total that is not whole cents
        var total = (await WalletAsync(user, userId)).GetProperty("total").GetDecimal();
        Assert.Equal(6.234567m, total);

        await SignInAsync(key);

        var navbar = _page.GetByTestId("navbar-balance");
        await Expect(navbar).ToHaveAttributeAsync("data-exact", Js(total));
        await Expect(navbar).ToHaveTextAsync(Cents(total)); // "$6.23"
        await Expect(_page.GetByTestId("panel-total")).ToHaveAttributeAsync("data-exact", Js(total));
        Assert.Equal(total, decimal.Parse((await navbar.GetAttributeAsync("data-exact"))!, NumberStyles.Float, CultureInfo.InvariantCulture));
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    public async Task Recharging_25_with_the_success_card_raises_navbar_and_panel_by_exactly_25_without_a_reload_and_adds_a_purchased_lot_and_a_topup_entry()
    {
        var (userId, key, user) = await host.NewUserAsync("recharge");
        await SignInAsync(key);
        var before = (await WalletAsync(user, userId)).GetProperty("total").GetDecimal();
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", Js(before));

        // Anything that reloads the document loses this marker and fires "load" again.
        await _page.EvaluateAsync("() => { window.__noReloadMarker = 'kept'; }");
        var loads = 0;
        _page.Load += (_, _) => Interlocked.Increment(ref loads);

        await _page.GetByTestId("wallet-icon").ClickAsync();
        await Expect(_page.GetByTestId("recharge-dialog")).ToBeVisibleAsync();
        await PayAsync(amountPreset: 25, SuccessCard);
        await Expect(_page.GetByTestId("recharge-message")).ToContainTextAsync("Payment succeeded");

        var after = before + 25m;
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", Js(after));
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveTextAsync(Cents(after));
        await Expect(_page.GetByTestId("panel-total")).ToHaveAttributeAsync("data-exact", Js(after));
        await Expect(_page.GetByTestId("panel-purchased")).ToHaveAttributeAsync("data-exact", "25");
        Assert.Equal(after, (await WalletAsync(user, userId)).GetProperty("total").GetDecimal());

        await _page.GetByTestId("recharge-close").ClickAsync();
        await Expect(_page.GetByTestId("recharge-dialog")).ToBeHiddenAsync();
        var lot = (await GetJsonAsync(user, $"/v1/wallets/{userId}/lots")).GetProperty("items").EnumerateArray()
            .Single(l => l.GetProperty("kind").GetString() == "purchased");
        var lotRow = _page.Locator($"[data-testid=lot-row][data-lot-id='{lot.GetProperty("id").GetInt64()}']");
        await Expect(lotRow).ToContainTextAsync("Purchased");
        await Expect(lotRow.Locator("td").Nth(2).Locator("span")).ToHaveAttributeAsync("data-exact", "25");

        await OpenHistoryFromProfileMenuAsync();
        var topups = _page.Locator("[data-testid=history-row][data-kind=topup]");
        await Expect(topups).ToHaveCountAsync(1);
        await Expect(AmountOf(topups)).ToHaveAttributeAsync("data-exact", "25");
        await Expect(AmountOf(topups)).ToHaveTextAsync("+$25.00");

        Assert.Equal("kept", await _page.EvaluateAsync<string>("() => window.__noReloadMarker"));
        Assert.Equal(0, loads);
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    public async Task The_decline_card_shows_a_clear_message_and_changes_neither_the_balance_nor_the_history()
    {
        var (userId, key, user) = await host.NewUserAsync("decline");
        await SignInAsync(key);
        var before = (await WalletAsync(user, userId)).GetProperty("total").GetDecimal();
        var entriesBefore = (await LedgerAsync(user, userId)).Count;
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", Js(before));

        await _page.GetByTestId("panel-recharge").ClickAsync();
        await Expect(_page.GetByTestId("recharge-dialog")).ToBeVisibleAsync();
        await PayAsync(amountPreset: 25, DeclineCard);

        var message = _page.GetByTestId("recharge-message");
        await Expect(message).ToContainTextAsync("Payment declined");
        await Expect(message).ToContainTextAsync("No credits were added");
        await Expect(message).ToHaveClassAsync(new System.Text.RegularExpressions.Regex(@"\bis-error\b"));

        // The top-up call has answered; nothing was written, and the page shows the same balance.
        Assert.Equal(before, (await WalletAsync(user, userId)).GetProperty("total").GetDecimal());
        Assert.Equal(entriesBefore, (await LedgerAsync(user, userId)).Count);
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", Js(before));
        await Expect(_page.GetByTestId("panel-total")).ToHaveAttributeAsync("data-exact", Js(before));

        await _page.GetByTestId("recharge-close").ClickAsync();
        await OpenHistoryFromProfileMenuAsync();
        await Expect(_page.GetByTestId("history-row")).ToHaveCountAsync(entriesBefore);
        await Expect(_page.Locator("[data-testid=history-row][data-kind=topup]")).ToHaveCountAsync(0);
        await Expect(_page.Locator("#history-end")).ToBeVisibleAsync();
    }

    [Fact]
    [Trait("Rule", "R-USAGE-1")]
    public async Task A_session_started_through_the_API_shows_as_running_and_once_stopped_its_charges_appear_in_usage_and_history()
    {
        var (userId, key, user) = await host.NewUserAsync("session");
        var orchestrator = host.Client(await host.IssueKeyAsync("orchestrator"));
        await SignInAsync(key);
        await Expect(_page.Locator("#sessions-empty")).ToBeVisibleAsync();

        var sessionId = $"sess-{Guid.NewGuid():N}";
        using var ticks = ReminderTicks.OfKey(sessionId); // the in-process silo's reminder ticks for this session
        var start = await orchestrator.PostAsJsonAsync("/v1/sessions", new { sessionId, userId, instanceType = "H100" });
        Assert.Equal(HttpStatusCode.Created, start.StatusCode);

        var row = _page.Locator($"[data-testid=session-row][data-session-id='{sessionId}']");
        await Expect(row).ToBeVisibleAsync(); // the page polls the wallet every 3 s
        await Expect(row).ToContainTextAsync("H100");
        await Expect(row).ToContainTextAsync("$21.84/h");

        // Let at least one 1-second interval be charged by the session's reminder (checked through the API after each tick), then stop.
        await ticks.UntilAsync(async () => (await GetJsonAsync(orchestrator, $"/v1/sessions/{sessionId}")).GetProperty("charged").GetDecimal() > 0,
            TimeSpan.FromSeconds(20), "the session to be charged for an interval");
        var stop = await orchestrator.PostAsync($"/v1/sessions/{sessionId}/stop", null);
        Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
        var charged = (await stop.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("charged").GetDecimal();
        Assert.True(charged > 0);

        await Expect(row).ToHaveCountAsync(0);
        await Expect(_page.Locator("#sessions-empty")).ToBeVisibleAsync();

        // Usage: the page loads it on sign-in; "Apply" reloads the range (today is in it).
        await _page.GetByTestId("usage-apply").ClickAsync();
        var usageRow = _page.GetByTestId("usage-row");
        await Expect(usageRow).ToHaveCountAsync(1);
        await Expect(usageRow.Locator("td.strong span")).ToHaveAttributeAsync("data-exact", Js(charged));
        await Expect(_page.GetByTestId("usage-table").Locator("thead")).ToContainTextAsync("H100");
        await Expect(_page.Locator("#usage-empty")).ToBeHiddenAsync();

        // History: every session charge of the API's ledger, and nothing else charged.
        var apiCharges = (await LedgerAsync(user, userId)).Where(e => e.GetProperty("kind").GetString() == "session_charge").ToList();
        Assert.NotEmpty(apiCharges);
        Assert.Equal(-charged, apiCharges.Sum(e => e.GetProperty("amount").GetDecimal()));
        await _page.GetByTestId("nav-history").ClickAsync();
        var chargeRows = _page.Locator("[data-testid=history-row][data-kind=session_charge]");
        await Expect(chargeRows).ToHaveCountAsync(apiCharges.Count);
        var shown = await RowsAsync(chargeRows);
        Assert.Equal(apiCharges.Select(e => e.GetProperty("seq").GetInt64()), shown.Select(r => r.Seq));
        Assert.Equal(-charged, shown.Sum(r => r.Amount));
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    public async Task The_CSV_download_holds_the_same_rows_as_the_history_table()
    {
        var (userId, key, user) = await host.NewUserAsync("csv");
        var topup = await user.SendAsync(Post($"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_visa" }));
        Assert.Equal(HttpStatusCode.Created, topup.StatusCode);
        await AdjustAsync(userId, -1.5m);
        var orchestrator = host.Client(await host.IssueKeyAsync("orchestrator"));
        var inference = await orchestrator.SendAsync(Post("/v1/inference/charges",
            new { userId, model = "llama-3.3-70b-instruct", inputTokens = 12345, outputTokens = 6789 }));
        Assert.Equal(HttpStatusCode.Created, inference.StatusCode);
        var entries = (await LedgerAsync(user, userId)).Count;
        Assert.Equal(4, entries);

        await SignInAsync(key);
        await OpenHistoryFromProfileMenuAsync();
        var rows = _page.GetByTestId("history-row");
        await Expect(rows).ToHaveCountAsync(entries);
        var table = await RowsAsync(rows);

        var download = await _page.RunAndWaitForDownloadAsync(() => _page.GetByTestId("history-csv").ClickAsync(),
            new PageRunAndWaitForDownloadOptions { Timeout = 30_000 });
        Assert.Null(await download.FailureAsync());
        Assert.EndsWith(".csv", download.SuggestedFilename);
        var path = Path.Combine(Path.GetTempPath(), $"qubrid-browser-{Guid.NewGuid():N}.csv");
        try
        {
            await download.SaveAsAsync(path);
            var csv = ParseCsv(await File.ReadAllTextAsync(path, Encoding.UTF8));
            Assert.Equal(["seq", "at", "kind", "amount"], csv[0].Take(4));
            var fromCsv = csv.Skip(1).Select(r => (Seq: long.Parse(r[0], CultureInfo.InvariantCulture), Kind: r[2],
                Amount: decimal.Parse(r[3], NumberStyles.Float, CultureInfo.InvariantCulture))).ToList();
            Assert.Equal(table.Select(r => (r.Seq, r.Kind, r.Amount)), fromCsv);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    [Trait("Rule", "R-ROLE-2")]
    public async Task A_user_cannot_see_another_users_wallet_neither_by_editing_the_URL_nor_by_asking_the_API_with_their_own_key()
    {
        var (victimId, _, victim) = await host.NewUserAsync("victim");
        var topup = await victim.SendAsync(Post($"/v1/wallets/{victimId}/topups", new { amount = 77.77m, paymentToken = "tok_visa" }));
        Assert.Equal(HttpStatusCode.Created, topup.StatusCode);
        var (userId, key, user) = await host.NewUserAsync("snoop");
        var own = (await WalletAsync(user, userId)).GetProperty("total").GetDecimal();

        // The API: the other wallet does not exist for this key (404 wallet_not_found), on every wallet read.
        foreach (var suffix in new[] { "", "/lots", "/ledger", "/ledger.csv", "/usage" })
        {
            var response = await user.GetAsync($"/v1/wallets/{victimId}{suffix}");
            Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
            Assert.Equal("wallet_not_found", (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("code").GetString());
        }

        await SignInAsync(key);
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", Js(own));

        // The page takes the wallet from the key (GET /v1/me), not from the URL: edited URLs still show only one's own wallet.
        // It also ignores the admin-only "wallet user id" that sessionStorage can carry.
        await _page.EvaluateAsync("id => sessionStorage.setItem('qubrid.userId', id)", victimId);
        foreach (var url in new[] { $"/?userId={victimId}#billing", $"/?user={victimId}#history", $"/#billing/{victimId}", $"/#wallets/{victimId}" })
        {
            await _page.GotoAsync(url);
            await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", Js(own));
            await Expect(_page.Locator("#menu-user")).ToHaveTextAsync(userId);
            Assert.DoesNotContain("77.77", await _page.Locator("body").InnerTextAsync());
        }

        // The page's own fetch with the signed-in key, aimed at the other wallet: 404.
        var status = await _page.EvaluateAsync<int>(
            "async id => (await fetch('/v1/wallets/' + encodeURIComponent(id), { headers: { Authorization: 'Bearer ' + sessionStorage.getItem('qubrid.apiKey') } })).status",
            victimId);
        Assert.Equal(404, status);

        // A page whose wallet request is redirected to the other wallet shows the API's error and nothing of that wallet.
        await _page.RouteAsync($"**/v1/wallets/{userId}", route => route.ContinueAsync(new RouteContinueOptions { Url = $"{host.BaseUrl}/v1/wallets/{victimId}" }));
        await _page.ReloadAsync();
        await Expect(_page.GetByTestId("alert")).ToContainTextAsync("does not exist");
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", "");
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveTextAsync("…");
        await Expect(_page.GetByTestId("panel-total")).ToHaveTextAsync("…");
        Assert.DoesNotContain("77.77", await _page.Locator("body").InnerTextAsync());
        await _page.UnrouteAllAsync();
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    public async Task Limits_and_auto_top_up_set_on_the_billing_panel_apply_and_a_debit_below_the_threshold_recharges_to_the_target()
    {
        var (userId, key, user) = await host.NewUserAsync("controls");
        var total = (await WalletAsync(user, userId)).GetProperty("total").GetDecimal();
        await SignInAsync(key);
        await Expect(_page.GetByTestId("panel-available")).ToHaveAttributeAsync("data-exact", Js(total));
        await Expect(_page.GetByTestId("panel-held")).ToHaveAttributeAsync("data-exact", "0");

        await _page.GetByTestId("limit-hour").FillAsync("3");
        await _page.GetByTestId("limits-save").ClickAsync();
        await Expect(_page.GetByTestId("limits-effective")).ToContainTextAsync("per hour $3.00");
        Assert.Equal(3m, (await GetJsonAsync(user, $"/v1/wallets/{userId}/limits")).GetProperty("owner").GetProperty("perHour").GetDecimal());

        var threshold = total - 0.5m;
        await _page.GetByTestId("auto-enabled").CheckAsync();
        await _page.GetByTestId("auto-threshold").FillAsync(threshold.ToString(CultureInfo.InvariantCulture));
        await _page.GetByTestId("auto-target").FillAsync("20");
        await _page.GetByTestId("auto-cap").FillAsync("50");
        await _page.GetByTestId("auto-card").SelectOptionAsync("tok_visa");
        await _page.GetByTestId("auto-save").ClickAsync();
        await Expect(_page.GetByTestId("auto-status")).ToContainTextAsync("On.");

        // 1 USD of premium access takes available below the threshold: one recharge back to 20, shown without a reload.
        var orchestrator = host.Client(await host.IssueKeyAsync("orchestrator"));
        Assert.Equal(HttpStatusCode.Created, (await orchestrator.SendAsync(Post("/v1/premium/charges", new { userId, name = "premium-model-access" }))).StatusCode);
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", "20");
        await Expect(_page.GetByTestId("spent-hour")).ToHaveAttributeAsync("data-exact", "1");
        Assert.Equal(20m, (await WalletAsync(user, userId)).GetProperty("total").GetDecimal());
    }

    [Fact]
    public async Task Screenshots_of_the_billing_panel_the_history_and_the_open_recharge_dialog_are_saved()
    {
        var (userId, key, user) = await host.NewUserAsync("ada");
        var admin = host.Client(host.AdminKey);
        var grant = await admin.SendAsync(Post($"/v1/wallets/{userId}/grants",
            new { amount = 20, expiresAt = DateTimeOffset.UtcNow.AddDays(30), reason = "Beta access" }));
        Assert.Equal(HttpStatusCode.Created, grant.StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await user.SendAsync(Post($"/v1/wallets/{userId}/topups", new { amount = 50, paymentToken = "tok_visa" }))).StatusCode);
        var orchestrator = host.Client(await host.IssueKeyAsync("orchestrator"));
        foreach (var (model, input, output) in new[] { ("llama-3.3-70b-instruct", 180_000, 60_000), ("deepseek-r1", 90_000, 250_000) })
            Assert.Equal(HttpStatusCode.Created, (await orchestrator.SendAsync(Post("/v1/inference/charges",
                new { userId, model, inputTokens = input, outputTokens = output }))).StatusCode);
        Assert.Equal(HttpStatusCode.Created, (await orchestrator.SendAsync(Post("/v1/premium/charges",
            new { userId, name = "flux-pro-image", reference = "image job 1" }))).StatusCode);
        var sessionId = $"nb-{Guid.NewGuid():N}"[..16];
        Assert.Equal(HttpStatusCode.Created, (await orchestrator.PostAsJsonAsync("/v1/sessions",
            new { sessionId, userId, instanceType = "H100", workload = "notebook" })).StatusCode);

        var dir = ScreenshotFolder;
        Directory.CreateDirectory(dir);
        try
        {
            await SignInAsync(key);
            // Shown once it has charged at least a cent (H100: about 0.6 cent a second; the page polls every 3 s).
            var charged = _page.Locator($"[data-testid=session-row][data-session-id='{sessionId}'] td.num span");
            await Expect(charged).ToHaveAttributeAsync("data-exact", new System.Text.RegularExpressions.Regex(@"^0\.0[1-9]|^0\.[1-9]|^[1-9]"));
            await Expect(_page.GetByTestId("lot-row")).ToHaveCountAsync(3);
            await _page.GetByTestId("usage-apply").ClickAsync(); // usage loads on sign-in and on "Apply": include the session so far
            await _page.GetByTestId("usage-apply").BlurAsync();
            await Expect(_page.GetByTestId("usage-table").Locator("thead")).ToContainTextAsync("H100");
            await Expect(_page.GetByTestId("usage-row")).ToHaveCountAsync(1);
            await Expect(_page.GetByTestId("rate-row").First).ToBeVisibleAsync();
            await Expect(_page.GetByTestId("model-row").First).ToBeVisibleAsync();
            await Expect(_page.Locator("#quick-presets button").First).ToBeVisibleAsync();
            await ScreenshotAsync(Path.Combine(dir, "billing-panel.png"));
        }
        finally
        {
            await orchestrator.PostAsync($"/v1/sessions/{sessionId}/stop", null);
        }

        await OpenHistoryFromProfileMenuAsync();
        var apiEntries = (await LedgerAsync(user, userId)).Count;
        await Expect(_page.GetByTestId("history-row")).ToHaveCountAsync(apiEntries);
        await ScreenshotAsync(Path.Combine(dir, "history.png"));

        await _page.GetByTestId("wallet-icon").ClickAsync();
        await Expect(_page.GetByTestId("recharge-dialog")).ToBeVisibleAsync();
        await _page.GetByTestId("preset-50").ClickAsync();
        await _page.GetByRole(AriaRole.Button, new() { Name = "Use Visa (succeeds) test card" }).ClickAsync();
        await Expect(_page.GetByTestId("card-number")).ToHaveValueAsync(SuccessCard);
        await Expect(_page.GetByTestId("recharge-submit")).ToHaveTextAsync("Pay $50.00");
        await ScreenshotAsync(Path.Combine(dir, "recharge.png"));

        foreach (var name in new[] { "billing-panel.png", "history.png", "recharge.png" })
            Assert.True(new FileInfo(Path.Combine(dir, name)).Length > 10_000, $"{name} looks empty");
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    public async Task The_history_view_shows_each_topups_receipt_and_a_month_statement_that_closes_at_the_balance()
    {
        var (userId, key, user) = await host.NewUserAsync("receipts");
        var topup = await user.SendAsync(Post($"/v1/wallets/{userId}/topups", new { amount = 25, paymentToken = "tok_visa" }));
        Assert.Equal(HttpStatusCode.Created, topup.StatusCode);
        var receipt = (await GetJsonAsync(user, $"/v1/wallets/{userId}/receipts")).GetProperty("items")[0];
        var number = receipt.GetProperty("number").GetString()!;
        var total = (await WalletAsync(user, userId)).GetProperty("total").GetDecimal();

        await SignInAsync(key);
        await OpenHistoryFromProfileMenuAsync();
        var row = _page.Locator($"#receipts-table tr[data-number='{number}']");
        await Expect(row).ToContainTextAsync("visa •••• 4242");
        await Expect(row.Locator("td").Nth(2)).ToHaveAttributeAsync("data-exact", "25");
        await Expect(_page.GetByTestId("statement-month")).ToHaveValueAsync(DateTime.UtcNow.ToString("yyyy-MM", CultureInfo.InvariantCulture));
        await Expect(_page.GetByTestId("statement-closing")).ToHaveAttributeAsync("data-exact", Js(total));
        await Expect(_page.Locator("#statement-table tr[data-kind=topup]")).ToContainTextAsync("+$25.00");

        var download = await _page.RunAndWaitForDownloadAsync(() => row.GetByRole(AriaRole.Button).ClickAsync());
        var path = await download.PathAsync();
        Assert.Contains(number, await File.ReadAllTextAsync(path!));
    }

    [Fact]
    public async Task A_webhook_added_on_the_page_shows_its_secret_once_and_its_deliveries_can_be_replayed()
    {
        var (userId, key, user) = await host.NewUserAsync("hookpage");
        await using var receiver = await Qubrid.Tests.Webhooks.WebhookReceiver.StartAsync();
        await SignInAsync(key);
        await _page.GetByTestId("webhook-url").FillAsync(receiver.Url);
        await _page.GetByTestId("webhook-add").ClickAsync();
        await Expect(_page.GetByTestId("webhook-secret")).ToContainTextAsync("whsec_");
        receiver.Secret = (await _page.GetByTestId("webhook-secret").TextContentAsync())!.Trim();
        await Expect(_page.Locator("#webhooks-table tbody tr")).ToHaveCountAsync(1);
        Assert.DoesNotContain(receiver.Secret, await (await user.GetAsync("/v1/webhooks")).Content.ReadAsStringAsync());
        var hookId = (await GetJsonAsync(user, "/v1/webhooks")).GetProperty("items")[0].GetProperty("id").GetString();
        using var recorded = BillingSignals<BillingDiagnostics.WebhookAttemptRecorded>.Where(r => r.EndpointId == hookId);

        (await user.SendAsync(Post($"/v1/wallets/{userId}/topups", new { amount = 10, paymentToken = "tok_chargeDeclined" }))).Dispose();
        var first = await receiver.UntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(30), "the topup_failed delivery");
        Assert.True(first[0].SignatureValid);
        // The delivery is recorded just after the receiver answered it: the page lists it once the delivery loop recorded it.
        var attempt = Assert.Single(await recorded.UntilAsync(r => r.Count >= 1, TimeSpan.FromSeconds(30), "the delivery's record"));
        Assert.Equal((first[0].EventId, true), (attempt.EventId, attempt.Succeeded));

        await _page.GetByTestId("webhook-deliveries").ClickAsync();
        await Expect(_page.GetByTestId("delivery-status")).ToHaveTextAsync("succeeded");
        await _page.GetByTestId("delivery-replay").ClickAsync();
        await receiver.UntilAsync(r => r.Count >= 2, TimeSpan.FromSeconds(30), "the replayed delivery");
        await Expect(_page.Locator("#deliveries-table tbody tr td").Nth(3)).ToHaveTextAsync("2");
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    [Trait("Rule", "R-PROMO-5")]
    public async Task Redeeming_a_code_in_the_recharge_dialog_shows_the_new_promotional_lot_and_balance_at_once_and_a_second_try_says_why_not()
    {
        var (userId, key, user) = await host.NewUserAsync("redeem");
        var code = "BROWSER" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        var created = await host.Client(host.AdminKey).PostAsJsonAsync("/v1/promotions", new { code, amount = 3.5m, lotValidDays = 14 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var promotionId = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("promotionId").GetString();
        await SignInAsync(key);
        var before = (await WalletAsync(user, userId)).GetProperty("total").GetDecimal();
        await Expect(_page.GetByTestId("lot-row")).ToHaveCountAsync(1); // the sign-up bonus

        await _page.GetByTestId("wallet-icon").ClickAsync();
        await Expect(_page.GetByTestId("recharge-dialog")).ToBeVisibleAsync();
        await _page.GetByTestId("redeem-code").FillAsync(code.ToLowerInvariant());
        await _page.GetByTestId("redeem-submit").ClickAsync();

        await Expect(_page.GetByTestId("redeem-message")).ToContainTextAsync("Code redeemed: $3.50 of promotional credits added");
        await Expect(_page.GetByTestId("navbar-balance")).ToHaveAttributeAsync("data-exact", Js(before + 3.5m));
        var lot = _page.GetByTestId("lot-row").Filter(new() { HasText = $"promotion:{promotionId}" });
        await Expect(lot).ToHaveCountAsync(1);
        await Expect(lot).ToContainTextAsync("Promotional");
        Directory.CreateDirectory(ScreenshotFolder);
        await _page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, "redeem.png"), Animations = ScreenshotAnimations.Disabled });

        await _page.GetByTestId("redeem-code").FillAsync(code);
        await _page.GetByTestId("redeem-submit").ClickAsync();
        await Expect(_page.GetByTestId("redeem-message")).ToContainTextAsync("You have redeemed this promotion already.");
        await Expect(_page.GetByTestId("redeem-code")).ToHaveAttributeAsync("aria-invalid", "true");
        Assert.Equal(before + 3.5m, (await WalletAsync(user, userId)).GetProperty("total").GetDecimal());
    }

    [Fact]
    [Trait("Rule", "R-SCOPE-3")]
    public async Task A_scoped_grant_shows_what_it_pays_for_in_the_lots_and_its_amount_apart_in_the_balance()
    {
        var (userId, key, _) = await host.NewUserAsync("scoped");
        var admin = host.Client(host.AdminKey);
        var grant = await admin.SendAsync(Post($"/v1/wallets/{userId}/grants", new
        {
            amount = 10, expiresAt = DateTimeOffset.UtcNow.AddDays(30), reason = "A100 training voucher",
            scope = new { instanceTypes = new[] { "A100" }, workloads = new[] { "training" } },
        }));
        Assert.Equal(HttpStatusCode.Created, grant.StatusCode);
        var lotId = (await grant.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("lotId").GetInt64();

        await SignInAsync(key);
        await Expect(_page.GetByTestId("panel-scoped")).ToHaveAttributeAsync("data-exact", "10");
        await Expect(_page.GetByTestId("lot-row")).ToHaveCountAsync(2);
        await Expect(_page.Locator($"[data-testid=lot-row][data-lot-id='{lotId}'] [data-testid=lot-scope]")).ToHaveTextAsync("A100 · Training job");
        await Expect(_page.Locator($"[data-testid=lot-row]:not([data-lot-id='{lotId}']) [data-testid=lot-scope]")).ToHaveTextAsync("Any usage");
    }

    [Fact, Trait("Category", BrowserHost.EndToEnd)]
    public async Task A_redemption_answered_with_a_5xx_is_retried_with_the_same_idempotency_key()
    {
        var (userId, key, _) = await host.NewUserAsync("redeem5xx");
        var code = "RETRY" + Guid.NewGuid().ToString("N")[..10].ToUpperInvariant();
        var created = await host.Client(host.AdminKey).PostAsJsonAsync("/v1/promotions", new { code, amount = 1m, lotValidDays = 14 });
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var keys = new List<string>();
        await _page.RouteAsync($"**/v1/wallets/{userId}/redemptions", async route =>
        {
            keys.Add(route.Request.Headers["idempotency-key"]);
            if (keys.Count == 1)
                await route.FulfillAsync(new RouteFulfillOptions { Status = 503, ContentType = "application/problem+json",
                    Body = """{"status":503,"code":"service_unavailable","detail":"Try again."}""" });
            else await route.ContinueAsync();
        });
        await SignInAsync(key);
        await _page.GetByTestId("wallet-icon").ClickAsync();
        await _page.GetByTestId("redeem-code").FillAsync(code);
        await _page.GetByTestId("redeem-submit").ClickAsync();
        await Expect(_page.GetByTestId("redeem-message")).ToContainTextAsync("the same request is resent");

        await _page.GetByTestId("redeem-submit").ClickAsync();

        await Expect(_page.GetByTestId("redeem-message")).ToContainTextAsync("Code redeemed: $1.00 of promotional credits added");
        Assert.Equal(2, keys.Count);
        Assert.Equal(keys[0], keys[1]);
    }

    // ---------------------------------------------------------------- page helpers

    private async Task SignInAsync(string key)
    {
        await _page.GotoAsync("/");
        await _page.GetByTestId("signin-key").FillAsync(key);
        await _page.GetByTestId("signin-submit").ClickAsync();
        await Expect(_page.GetByTestId("navbar-balance")).Not.ToHaveAttributeAsync("data-exact", "");
    }

    private async Task PayAsync(int amountPreset, string card)
    {
        await _page.GetByTestId($"preset-{amountPreset}").ClickAsync();
        await Expect(_page.GetByTestId($"preset-{amountPreset}")).ToHaveAttributeAsync("aria-pressed", "true");
        await _page.GetByTestId("card-number").FillAsync(card);
        await _page.GetByTestId("card-expiry").FillAsync($"12/{(DateTime.UtcNow.Year + 3) % 100:00}");
        await _page.GetByTestId("card-cvc").FillAsync("123");
        await _page.GetByTestId("recharge-submit").ClickAsync();
    }

    private async Task OpenHistoryFromProfileMenuAsync()
    {
        await _page.GetByTestId("profile-menu").ClickAsync();
        await _page.GetByTestId("menu-billings").ClickAsync();
        await Expect(_page.Locator("#view-history")).ToBeVisibleAsync();
        await Expect(_page.GetByTestId("history-table")).Not.ToHaveAttributeAsync("aria-busy", "true");
    }

    private static ILocator AmountOf(ILocator historyRow) => historyRow.Locator("td").Nth(2).Locator("span");

    private static async Task<List<(long Seq, string Kind, decimal Amount)>> RowsAsync(ILocator rows)
    {
        var list = new List<(long, string, decimal)>();
        for (int i = 0, n = await rows.CountAsync(); i < n; i++)
        {
            var r = rows.Nth(i);
            list.Add((long.Parse((await r.GetAttributeAsync("data-seq"))!, CultureInfo.InvariantCulture),
                (await r.GetAttributeAsync("data-kind"))!,
                decimal.Parse((await AmountOf(r).GetAttributeAsync("data-exact"))!, NumberStyles.Float, CultureInfo.InvariantCulture)));
        }
        return list;
    }

    /// <summary>Full page from the top (the navbar and sidebar are sticky: a scrolled page would paint them mid-page).</summary>
    private async Task ScreenshotAsync(string path)
    {
        await _page.EvaluateAsync("() => window.scrollTo(0, 0)");
        await _page.WaitForFunctionAsync("() => window.scrollY === 0");
        await _page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true, Animations = ScreenshotAnimations.Disabled });
    }

    // ---------------------------------------------------------------- API helpers

    private static async Task<JsonElement> GetJsonAsync(HttpClient client, string url)
    {
        var response = await client.GetAsync(url);
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private static Task<JsonElement> WalletAsync(HttpClient client, string userId) => GetJsonAsync(client, $"/v1/wallets/{userId}");

    private static async Task<List<JsonElement>> LedgerAsync(HttpClient client, string userId) =>
        (await GetJsonAsync(client, $"/v1/wallets/{userId}/ledger?limit=500")).GetProperty("items").EnumerateArray().ToList();

    private async Task AdjustAsync(string userId, decimal amount)
    {
        var response = await host.Client(host.AdminKey).SendAsync(Post($"/v1/wallets/{userId}/adjustments", new { amount, reason = "browser test" }));
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private static HttpRequestMessage Post(string url, object body) => ApiHost.Post(url, body, Guid.NewGuid().ToString());

    // ---------------------------------------------------------------- formatting

    /// <summary>How the page writes a JSON number into data-exact (JavaScript's String(n)) for amounts to 6 decimals.</summary>
    private static string Js(decimal amount) => amount.ToString("0.######", CultureInfo.InvariantCulture);

    /// <summary>How the page shows an amount: en-US dollars to the cent, half away from zero.</summary>
    private static string Cents(decimal amount) =>
        (amount < 0 ? "-$" : "$") + Math.Round(Math.Abs(amount), 2, MidpointRounding.AwayFromZero).ToString("#,##0.00", CultureInfo.InvariantCulture);

    /// <summary>RFC 4180 records (quoted fields may hold commas, quotes and newlines).</summary>
    private static List<string[]> ParseCsv(string text)
    {
        var records = new List<string[]>();
        var fields = new List<string>();
        var field = new StringBuilder();
        bool quoted = false;
        for (int i = 0; i < text.Length; i++)
        {
            char c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { field.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else field.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else if (c == '\n')
            {
                fields.Add(field.ToString()); field.Clear();
                records.Add([.. fields]); fields.Clear();
            }
            else if (c != '\r') field.Append(c);
        }
        if (field.Length > 0 || fields.Count > 0) { fields.Add(field.ToString()); records.Add([.. fields]); }
        return records;
    }
}
