using Microsoft.AspNetCore.Http.HttpResults;
using Qubrid.Api.Extensions;

namespace Qubrid.Api.Apis;

/// <summary>Inference queries and premium access, charged by the orchestrator after they ran.</summary>
public static class ChargesApi
{
    public static IEndpointRouteBuilder MapChargesApi(this IEndpointRouteBuilder app)
    {
        app.MapPost("/v1/inference/charges", Inference).WithTags("Charges").RequireAuthorization(Policies.Orchestrator)
            .WithName("CreateInferenceCharge").RequiresIdempotencyKey()
            .WithSummary("Charge a query from its token counts (Idempotency-Key required); 402 and nothing debited if it cannot be paid.")
            .Refuses(ErrorCodes.UnknownModel, ErrorCodes.InsufficientCredits, ErrorCodes.SpendLimitExceeded, ErrorCodes.WalletNotFound, ErrorCodes.IdempotencyConflict,
                ErrorCodes.HoldNotFound, ErrorCodes.HoldNotActive, ErrorCodes.NotAMember);
        app.MapPost("/v1/premium/charges", Premium).WithTags("Charges").RequireAuthorization(Policies.Orchestrator)
            .WithName("CreatePremiumCharge").RequiresIdempotencyKey()
            .WithSummary("Charge access to a premium model or API at its configured price (Idempotency-Key required).")
            .Refuses(ErrorCodes.UnknownModel, ErrorCodes.InsufficientCredits, ErrorCodes.SpendLimitExceeded, ErrorCodes.WalletNotFound, ErrorCodes.IdempotencyConflict,
                ErrorCodes.NotAMember);
        return app;
    }

    private static async Task<Results<Created<ChargeDto>, ProblemHttpResult>> Inference(InferenceChargeBody body, HttpRequest request, IClusterClient cluster)
    {
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (!ApiProblems.IsValidId(body.UserId)) return ApiProblems.MalformedId("userId");
        if (string.IsNullOrEmpty(body.Model)) return ApiProblems.Problem(ErrorCodes.UnknownModel, "A model is required.");
        if (body.InputTokens is null || body.OutputTokens is null) return ApiProblems.Invalid("inputTokens and outputTokens are required.");
        var (billed, refused) = await OrganizationBilling.ResolveAsync(cluster, body.UserId!, body.WalletId, body.ProjectId);
        if (refused is not null) return refused;
        long? holdNumber = null;
        if (body.HoldId is { } holdId)
        {
            // A hold of another wallet is, for this one, a hold that does not exist.
            if (!HoldIds.TryParse(holdId, out var holdWallet, out var number) || holdWallet != billed!.WalletId) return SpendControlsApi.HoldNotFound(holdId);
            holdNumber = number;
        }
        var result = await cluster.GetGrain<IWalletGrain>(billed!.WalletId).ChargeInference(
            new InferenceChargeRequest(key, body.Model, body.InputTokens.Value, body.OutputTokens.Value, holdNumber, billed.MemberId, billed.ProjectId));
        return Charged(result);
    }

    private static async Task<Results<Created<ChargeDto>, ProblemHttpResult>> Premium(PremiumChargeBody body, HttpRequest request, IClusterClient cluster)
    {
        if (ApiRequest.IdempotencyKey(request, out var key) is { } noKey) return noKey;
        if (!ApiProblems.IsValidId(body.UserId)) return ApiProblems.MalformedId("userId");
        if (string.IsNullOrEmpty(body.Name)) return ApiProblems.Problem(ErrorCodes.UnknownModel, "A premium model or API name is required.");
        if (body.Reference is { Length: > Limits.MaxClientReferenceLength }) return ApiProblems.Invalid($"The reference must be at most {Limits.MaxClientReferenceLength} characters.");
        var (billed, refused) = await OrganizationBilling.ResolveAsync(cluster, body.UserId!, body.WalletId, body.ProjectId);
        if (refused is not null) return refused;
        var result = await cluster.GetGrain<IWalletGrain>(billed!.WalletId).ChargePremium(
            new PremiumChargeRequest(key, body.Name, body.Reference, billed.MemberId, billed.ProjectId));
        return Charged(result);
    }

    private static Results<Created<ChargeDto>, ProblemHttpResult> Charged(WalletOpResult result) =>
        result.Succeeded ? TypedResults.Created((string?)null, new ChargeDto(result.Amount.ToUsd(), result.Seq)) : ApiProblems.From(result);
}
