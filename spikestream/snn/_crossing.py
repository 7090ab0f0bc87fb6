"""Spike detection for models without reset: an upward crossing of the threshold. A step emits one spike;
`spk[i]` counts the step's crossings (saturating at 127) so the network can count the others as lost."""

from numba import njit


@njit(cache=True)
def crossed(v, v_th, theta_i, flag, spk, vpk, i):
    if v >= v_th + theta_i:
        if flag[i] == 0:
            flag[i] = 1
            if spk[i] < 127:
                spk[i] += 1
            vpk[i] = v
    elif v < v_th:
        flag[i] = 0
