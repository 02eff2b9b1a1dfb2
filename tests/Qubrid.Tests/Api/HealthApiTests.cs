using System.Text.Json;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Npgsql;
using Qubrid.Tests.Infrastructure;

namespace Qubrid.Tests.Api;

[Collection(ApiCollection.Name)]
public class HealthApiTests(ApiHost api)
{
    [Fact]
    public async Task Ready_answers_200_with_the_number_of_active_silos_when_the_database_and_a_silo_answer()
    {
        var response = await api.Client().GetAsync("/health/ready");

        Assert.Equal(200, (int)response.StatusCode);
        using var body = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("ready", body.RootElement.GetProperty("status").GetString());
        Assert.True(body.RootElement.GetProperty("silos").GetInt32() >= 1);
    }

    [Fact]
    public async Task Live_answers_200_live()
    {
        var response = await api.Client().GetAsync("/health/live");

        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("""{"status":"live"}""", await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task Ready_answers_503_not_ready_with_the_reason_when_the_database_does_not_answer()
    {
        // Nothing listens on port 1: the API's own database calls fail at once, while its cluster client stays connected.
        await using var deadDatabase = NpgsqlDataSource.Create("Host=127.0.0.1;Port=1;Username=postgres;Database=postgres;Timeout=2");
        await using var cut = api.Factory.WithWebHostBuilder(web => web.ConfigureTestServices(s => s.AddSingleton(deadDatabase)));

        var response = await cut.CreateClient().GetAsync("/health/ready");

        Assert.Equal(503, (int)response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.Equal("not_ready", problem.RootElement.GetProperty("code").GetString());
        Assert.Equal("Not ready", problem.RootElement.GetProperty("title").GetString());
        // What is wrong, in words of its own: which check failed and why, not an exception's text (hosts, ports, internals).
        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        Assert.Equal("database: The database cannot be reached.", detail);
        Assert.DoesNotContain("127.0.0.1", detail);
        Assert.DoesNotContain("Failed", detail);
    }
}
