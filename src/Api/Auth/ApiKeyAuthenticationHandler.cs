using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.Extensions.Options;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Auth;

/// <summary>
/// <c>Authorization: Bearer &lt;api key&gt;</c> (the scheme in any case, any white space around the key). 401 and 403
/// answer in problem+json with a code; an address that sent too many unknown keys is answered 429 (see <see cref="ApiKeyStore"/>).
/// </summary>
public sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory loggerFactory,
    UrlEncoder encoder,
    ApiKeyStore keys) : AuthenticationHandler<AuthenticationSchemeOptions>(options, loggerFactory, encoder)
{
    public const string SchemeName = "ApiKey";
    private const string ThrottledItem = "qubrid:unknown-keys-throttled";

    /// <summary>The key of an <c>Authorization</c> header, if it is a bearer token.</summary>
    public static bool TryReadBearer(string header, out string key)
    {
        key = "";
        var text = header.AsSpan().Trim();
        int space = text.IndexOfAny(' ', '\t');
        if (space < 0 || !text[..space].Equals("Bearer", StringComparison.OrdinalIgnoreCase)) return false;
        var token = text[space..].Trim();
        if (token.IsEmpty || token.ContainsAny(' ', '\t')) return false;
        key = token.ToString();
        return true;
    }

    // R-ROLE-1: a bearer key names one role; none or a bad one is 401.
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        string? header = Request.Headers.Authorization;
        if (string.IsNullOrEmpty(header)) return AuthenticateResult.NoResult();
        if (!TryReadBearer(header, out var key)) return AuthenticateResult.Fail("Not a bearer token.");
        var (status, principal) = await keys.FindAsync(key, ClientAddress.Of(Context), Context.RequestAborted);
        if (status == KeyLookupStatus.Throttled)
        {
            Context.Items[ThrottledItem] = true;
            return AuthenticateResult.Fail("Too many unknown API keys from this address.");
        }
        if (principal is null) return AuthenticateResult.Fail("Unknown, expired or revoked API key.");
        var claims = new List<Claim> { new(ClaimTypes.Role, principal.Role), new(CallerExtensions.KeyIdClaim, principal.KeyId) };
        if (principal.UserId is not null) claims.Add(new Claim(CallerExtensions.UserIdClaim, principal.UserId));
        var identity = new ClaimsIdentity(claims, SchemeName);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName));
    }

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items.ContainsKey(ThrottledItem))
        {
            Response.Headers.RetryAfter = "1";
            return ApiProblems.Write(Context, ApiProblems.RateLimited, "Too many requests with unknown API keys from this address; retry later with a valid key.");
        }
        return ApiProblems.Write(Context, ApiProblems.Unauthorized, "Send a valid API key as 'Authorization: Bearer <key>'.");
    }

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiProblems.Write(Context, ApiProblems.Forbidden, "This API key's role may not do that.");
}
