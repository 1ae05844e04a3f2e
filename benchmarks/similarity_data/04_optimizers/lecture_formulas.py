def momentum_step(theta, grad, m, learning_rate, beta=0.9):
    # m <- beta m + eta g ; theta <- theta - m
    theta = np.array(theta, dtype=float)
    grad = np.array(grad, dtype=float)
    m = np.array(m, dtype=float)
    m_new = beta * m + learning_rate * grad
    theta_new = theta - m_new
    return theta_new, m_new


def nesterov_step(theta, grad_fn, m, learning_rate, beta=0.9):
    theta = np.array(theta, dtype=float)
    m = np.array(m, dtype=float)
    lookahead = theta - beta * m
    m_new = beta * m + learning_rate * np.array(grad_fn(lookahead.copy()), dtype=float)
    theta_new = theta - m_new
    return theta_new, m_new


def adagrad_step(theta, grad, s, learning_rate, epsilon=1e-10):
    theta = np.array(theta, dtype=float)
    grad = np.array(grad, dtype=float)
    s_new = np.array(s, dtype=float) + grad * grad
    theta_new = theta - learning_rate * grad / np.sqrt(s_new + epsilon)
    return theta_new, s_new


def rmsprop_step(theta, grad, s, learning_rate, beta=0.9, epsilon=1e-10):
    theta = np.array(theta, dtype=float)
    grad = np.array(grad, dtype=float)
    s_new = beta * np.array(s, dtype=float) + (1 - beta) * grad * grad
    theta_new = theta - learning_rate * grad / np.sqrt(s_new + epsilon)
    return theta_new, s_new


def adam_step(theta, grad, m, s, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-10):
    if t < 1:
        raise ValueError("t starts at 1")
    theta = np.array(theta, dtype=float)
    grad = np.array(grad, dtype=float)
    m_new = beta1 * np.array(m, dtype=float) + (1 - beta1) * grad
    s_new = beta2 * np.array(s, dtype=float) + (1 - beta2) * grad * grad
    m_corr = m_new / (1 - beta1**t)
    s_corr = s_new / (1 - beta2**t)
    theta_new = theta - learning_rate * m_corr / np.sqrt(s_corr + epsilon)
    return theta_new, m_new, s_new
