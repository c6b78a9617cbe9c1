"""First-order optimizers that update one flat parameter buffer in place.

Each optimizer keeps its state in buffers shaped like the parameters and updates
``params`` in place, whatever the number of weight matrices: Adam and RMSprop in
one pass of a Cython kernel, SGD with a few vectorised NumPy operations. Semantics
follow scikit-learn's MLP (``sgd``, ``adam``, learning-rate schedules,
``trigger_stopping``) and Keras (``rmsprop``).
"""

import numpy as np

from sklstm._kernels._optim import adam_update, rmsprop_update

#: The second state buffer of the rules that keep one.
_NO_STATE = {
    np.dtype(np.float32): np.empty(0, np.float32),
    np.dtype(np.float64): np.empty(0, np.float64),
}


class _Optimizer:
    #: The schedule ("adaptive" divides the rate by 5 on a plateau). A class
    #: default, so that optimizers pickled before Adam and RMSprop had it load.
    lr_schedule = "constant"

    def __init__(self, params, learning_rate_init, lr_schedule="constant"):
        self.learning_rate_init = float(learning_rate_init)
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule
        # Scratch space so that an update allocates nothing.
        self._scratch = np.empty_like(params)

    @property
    def rate(self):
        """The step size the schedule sets (Adam's before its bias correction)."""
        return self.learning_rate

    def _divide_rate(self, factor):
        self.learning_rate /= factor

    def iteration_ends(self, time_step):
        """Hook called at the end of each epoch with the samples seen so far."""

    def kernel_rule(self):
        """The update as the minibatch kernel makes it (``train_minibatches``):
        ``(settings, state_a, state_b)``, its hyper-parameters and state buffers."""
        raise NotImplementedError

    def kernel_updated(self, n_updates):
        """Account for ``n_updates`` steps the kernel has made with kernel_rule."""

    def trigger_stopping(self, msg, verbose):
        """Whether training stops when it has stopped improving (see MLP).

        With the "adaptive" schedule, MLP's rule for every solver: divide the
        rate by 5 and go on, until it falls to 1e-6.
        """
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self._divide_rate(5.0)
        if verbose:
            print(msg + " Setting learning rate to %f" % self.rate)
        return False


class SGDOptimizer(_Optimizer):
    """Stochastic gradient descent with momentum, as scikit-learn's MLP does it.

    ``learning_rate`` ("constant", "invscaling", "adaptive") schedules the step:
    "invscaling" sets it to ``learning_rate_init / (t + 1) ** power_t`` after each
    epoch (``t`` samples seen), "adaptive" divides it by 5 each time training stops
    improving, until it falls under 1e-6.
    """

    def __init__(
        self,
        params,
        learning_rate_init=0.1,
        lr_schedule="constant",
        momentum=0.9,
        nesterov=False,
        power_t=0.5,
    ):
        super().__init__(params, learning_rate_init, lr_schedule)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.power_t = float(power_t)
        self.velocity = np.zeros_like(params)

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = (
                self.learning_rate_init / (time_step + 1) ** self.power_t
            )

    def kernel_rule(self):
        settings = {
            "rule": "sgd",
            "learning_rate": self.learning_rate,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
        }
        return settings, self.velocity, _NO_STATE[self.velocity.dtype]

    def update(self, params, grads):
        """``v = momentum * v - lr * g``; ``w += v`` (or the Nesterov look-ahead)."""
        v, lr_grads = self.velocity, self._scratch
        np.multiply(grads, self.learning_rate, out=lr_grads)
        v *= self.momentum
        v -= lr_grads
        if self.nesterov:
            # Step along the updated velocity once more: momentum * v - lr * g.
            params += self.momentum * v
            params -= lr_grads
        else:
            params += v


class AdamOptimizer(_Optimizer):
    """Adam (Kingma & Ba, 2014) with MLP's bias-corrected learning rate."""

    def __init__(
        self,
        params,
        learning_rate_init=0.001,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        lr_schedule="constant",
    ):
        super().__init__(params, learning_rate_init, lr_schedule)
        self.base_rate = float(learning_rate_init)
        self.beta_1 = float(beta_1)
        self.beta_2 = float(beta_2)
        self.epsilon = float(epsilon)
        self.t = 0
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params)

    @property
    def rate(self):
        # Adam's pickled before the adaptive schedule have no base_rate.
        return getattr(self, "base_rate", self.learning_rate_init)

    def _divide_rate(self, factor):
        self.base_rate = self.rate / factor

    def kernel_rule(self):
        settings = {
            "rule": "adam",
            "learning_rate": self.rate,
            "beta_1": self.beta_1,
            "beta_2": self.beta_2,
            "epsilon": self.epsilon,
            "step": self.t,
        }
        return settings, self.m, self.v

    def kernel_updated(self, n_updates):
        if n_updates:
            self.t += n_updates
            self._bias_correct()

    def _bias_correct(self):
        self.learning_rate = (
            self.rate * np.sqrt(1 - self.beta_2**self.t) / (1 - self.beta_1**self.t)
        )

    def update(self, params, grads):
        self.t += 1
        self._bias_correct()
        adam_update(
            params,
            grads,
            self.m,
            self.v,
            self.beta_1,
            self.beta_2,
            self.learning_rate,
            self.epsilon,
        )


class RMSpropOptimizer(_Optimizer):
    """RMSprop as Keras implements it (no momentum, not centered).

    ``v = rho * v + (1 - rho) * g ** 2``; ``w -= lr * g / sqrt(v + epsilon)``
    (epsilon under the root, as Keras has it; PyTorch adds it after the root).
    """

    def __init__(
        self,
        params,
        learning_rate_init=0.001,
        rho=0.9,
        epsilon=1e-8,
        lr_schedule="constant",
    ):
        super().__init__(params, learning_rate_init, lr_schedule)
        self.rho = float(rho)
        self.epsilon = float(epsilon)
        self.v = np.zeros_like(params)

    def kernel_rule(self):
        settings = {
            "rule": "rmsprop",
            "learning_rate": self.learning_rate,
            "rho": self.rho,
            "epsilon": self.epsilon,
        }
        return settings, self.v, _NO_STATE[self.v.dtype]

    def update(self, params, grads):
        rmsprop_update(
            params, grads, self.v, self.rho, self.learning_rate, self.epsilon
        )


def make_optimizer(settings, params):
    """The optimizer that ``settings.solver`` names, for ``params``."""
    if settings.solver == "sgd":
        return SGDOptimizer(
            params,
            settings.learning_rate_init,
            settings.learning_rate,
            settings.momentum,
            settings.nesterovs_momentum,
            settings.power_t,
        )
    # "invscaling" is SGD's only, as in MLP; "adaptive" every solver's.
    schedule = "adaptive" if settings.learning_rate == "adaptive" else "constant"
    if settings.solver == "rmsprop":
        return RMSpropOptimizer(
            params,
            settings.learning_rate_init,
            settings.rho,
            settings.epsilon,
            schedule,
        )
    return AdamOptimizer(
        params,
        settings.learning_rate_init,
        settings.beta_1,
        settings.beta_2,
        settings.epsilon,
        schedule,
    )
