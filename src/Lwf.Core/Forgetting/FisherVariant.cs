namespace Lwf.Core.Forgetting;

public enum FisherVariant { Empirical, Model }
