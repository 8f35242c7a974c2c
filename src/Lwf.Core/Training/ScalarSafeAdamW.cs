using Lwf.Core.Models;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace Lwf.Core.Training;

/// <summary>
/// TorchSharp's AdamW, op for op (decoupled decay, then the moments, then the bias-corrected step), with each Scalar
/// alive until its op has run. TorchSharp's own step passes about eight temporary Scalars per parameter to libtorch,
/// any of which the finalizer thread may free while libtorch reads it (<see cref="KeptScalars"/>). The state and its
/// checkpoint format stay TorchSharp's: this class only replaces the step.
/// </summary>
public sealed class ScalarSafeAdamW : AdamW
{
    public ScalarSafeAdamW(IEnumerable<ParamGroup> groups, double lr, double beta1, double beta2, double eps, double weightDecay)
        : base(groups, lr, beta1, beta2, eps, weightDecay, amsgrad: false, maximize: false)
    {
    }

    public override Tensor step(Func<Tensor>? closure = null) => _step<ParamGroup>(group =>
    {
        var options = group.Options;
        if (options.amsgrad == true || options.maximize == true)
            throw new InvalidOperationException("amsgrad and maximize are not part of the fine-tuning AdamW");
        double beta1 = options.beta1!.Value, beta2 = options.beta2!.Value, decay = options.weight_decay!.Value;
        double eps = options.eps!.Value, lr = options.LearningRate!.Value;
        using Scalar keep = 1.0 - lr * decay, b1 = beta1, rest1 = 1.0 - beta1, b2 = beta2, rest2 = 1.0 - beta2, epsilon = eps;
        foreach (var parameter in group.Parameters)
        {
            if (parameter.grad is not { } grad) continue;
            var state = (State)_state[parameter.Handle];
            state.step++;
            double bias1 = 1.0 - Math.Pow(beta1, state.step), bias2 = 1.0 - Math.Pow(beta2, state.step);
            using Scalar root = Math.Sqrt(bias2), stepSize = 0.0 - lr / bias1;
            parameter.mul_(keep);
            state.exp_avg.mul_(b1).add_(grad, rest1);
            state.exp_avg_sq.mul_(b2).addcmul_(grad, grad, rest2);
            var denominator = state.exp_avg_sq.sqrt().div(root).add_(epsilon, KeptScalars.One);
            parameter.addcdiv_(state.exp_avg, denominator, stepSize);
        }
    }, closure);
}
