using Lwf.Core.Forgetting;

namespace Lwf.Core.Jobs;

public sealed record FisherSettings(FisherVariant Variant = FisherVariant.Empirical, int Records = 0);
