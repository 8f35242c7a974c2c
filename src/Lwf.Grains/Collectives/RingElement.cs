namespace Lwf.Grains.Collectives;

/// <summary>The element types the ring adds: float32 (gradients, on the wire as they are) and float64 (Fisher sums, counts).</summary>
public enum RingElement { Float32, Float64 }
