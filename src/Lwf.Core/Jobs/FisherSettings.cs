using Lwf.Core.Forgetting;
using Lwf.Core.Generation;
using Lwf.Core.Training;

namespace Lwf.Core.Jobs;

public sealed record FisherSettings(FisherVariant Variant = FisherVariant.Empirical, int Records = 0);
