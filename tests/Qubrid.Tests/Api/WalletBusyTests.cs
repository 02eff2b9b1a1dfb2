using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Serialization;
using Qubrid.Api.Extensions;

namespace Qubrid.Tests.Api;

/// <summary>A wallet whose commit queue is full turns callers away with <see cref="WalletBusyException"/>: a 503 to retry, not a 500.</summary>
public class WalletBusyTests
{
    [Fact]
    public async Task A_wallet_with_a_full_queue_answers_503_wallet_busy_with_retry_after()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddProblemDetails();
        await using var app = builder.Build();
        app.UseQubridErrors();
        app.MapGet("/busy", IResult () => throw new WalletBusyException("Wallet 'u1' has 100000 operations waiting; try again."));
        await app.StartAsync();

        var response = await app.GetTestClient().GetAsync("/busy");

        Assert.Equal(503, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(1), response.Headers.RetryAfter?.Delta);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("wallet_busy", problem.RootElement.GetProperty("code").GetString());
        Assert.Equal(503, problem.RootElement.GetProperty("status").GetInt32());
    }

    [Fact]
    public void WalletBusyException_crosses_silos_as_itself()
    {
        var serializer = new ServiceCollection().AddSerializer().BuildServiceProvider().GetRequiredService<Serializer>();

        var copy = serializer.Deserialize<Exception>(serializer.SerializeToArray<Exception>(new WalletBusyException("Wallet 'u1' is busy.")));

        Assert.Equal("Wallet 'u1' is busy.", Assert.IsType<WalletBusyException>(copy).Message);
    }
}
