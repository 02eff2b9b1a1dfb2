using Qubrid.Api.Apis;
using Qubrid.Api.Auth;
using Qubrid.Api.Extensions;
using Qubrid.ServiceDefaults;

// The content root is the binaries' folder (appsettings.json, wwwroot), whatever the working directory: see ContentRoot.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = ContentRoot.For(args) });
string connectionString;
try
{
    connectionString = builder.Configuration.RequireConnectionString();
}
catch (InvalidOperationException e)
{
    Console.Error.WriteLine(e.Message);
    return 2;
}
if (Qubrid.Api.Auth.BootstrapAdminKey.Problem(builder.Configuration) is { } badKey)
{
    Console.Error.WriteLine($"The API will not start: {badKey}");
    return 2;
}
if (string.IsNullOrEmpty(builder.Configuration["urls"])) builder.WebHost.UseUrls("http://127.0.0.1:5080"); // unless ASPNETCORE_URLS says otherwise
builder.AddQubridClusterClient(connectionString);
builder.AddQubridApi();
builder.AddQubridTelemetry("qubrid-api");

var app = builder.Build();
app.UseQubridErrors();
app.UseDefaultFiles();
app.UseStaticFiles();
app.UseAuthentication();
app.UseOrganizationRoles();
app.UseRateLimiter();
app.UseAuthorization();

app.MapHealthApi();
app.MapQubridDocs();
app.MapQubridMetrics();
app.MapCatalogApi();
app.MapKeysApi();
app.MapWalletsApi();
app.MapOrganizationsApi();
app.MapSessionsApi();
app.MapChargesApi();
app.MapSpendControlsApi();
app.MapStatementsApi();
app.MapWebhooksApi();
app.MapPromotionsApi();
app.MapRedemptionsApi();
app.MapRefundsApi();

app.Run();
return 0;

/// <summary>Visible to the tests' WebApplicationFactory.</summary>
public partial class Program;
