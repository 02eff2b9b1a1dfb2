using Qubrid.Api.Apis;
using Qubrid.Api.Extensions;

var builder = WebApplication.CreateBuilder(args);
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
builder.AddQubridClusterClient(connectionString);
builder.Services.AddProblemDetails();

var app = builder.Build();
app.MapHealthApi();
app.Run();
return 0;
