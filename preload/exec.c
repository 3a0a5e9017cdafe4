/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Trap mode across exec. Our SECCOMP_RET_TRAP filter survives execve(), our
 * SIGSYS handler does not: an exec'd image without the shim would be killed
 * by its first io_uring call. So while trap mode is on, the entry points that
 * take an explicit environment (execve, execvpe, fexecve, posix_spawn,
 * posix_spawnp) keep the shim in the new program's LD_PRELOAD. Not covered:
 * raw execve syscalls, execle(), static binaries, and the calls that use
 * environ after the program itself removed LD_PRELOAD from it (glibc's
 * execv/execl/system go to its internal execve, past this file).
 *
 * No allocation: vfork() children call execve() on their parent's heap.
 */

#include <dlfcn.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "shim.h"

#define PRELOAD_PREFIX "LD_PRELOAD="
#define PRELOAD_VAR_MAX (PATH_MAX * 4)

static char shim_path[PATH_MAX];

typedef int (*execve_fn)(const char *, char *const[], char *const[]);
typedef int (*fexecve_fn)(int, char *const[], char *const[]);
typedef int (*spawn_fn)(pid_t *, const char *, const posix_spawn_file_actions_t *, const posix_spawnattr_t *,
                        char *const[], char *const[]);
static execve_fn real_execve, real_execvpe;
static fexecve_fn real_fexecve;
static spawn_fn real_posix_spawn, real_posix_spawnp;

void shim_exec_init(void) {
        Dl_info info;

        real_execve = (execve_fn) dlsym(RTLD_NEXT, "execve");
        real_execvpe = (execve_fn) dlsym(RTLD_NEXT, "execvpe");
        real_fexecve = (fexecve_fn) dlsym(RTLD_NEXT, "fexecve");
        real_posix_spawn = (spawn_fn) dlsym(RTLD_NEXT, "posix_spawn");
        real_posix_spawnp = (spawn_fn) dlsym(RTLD_NEXT, "posix_spawnp");
        if (dladdr((void *) shim_exec_init, &info) && info.dli_fname && info.dli_fname[0] == '/')
                snprintf(shim_path, sizeof(shim_path), "%s", info.dli_fname);
}

static size_t env_count(char *const envp[]) {
        size_t n = 0;

        while (envp && envp[n])
                n++;
        return n;
}

/* Must @envp get the shim added? Only in trap mode, and only when missing. */
static bool needs_shim(char *const envp[]) {
        if (!shim_trap_on() || !shim_path[0])
                return false;
        for (size_t i = 0; envp && envp[i]; i++)
                if (strncmp(envp[i], PRELOAD_PREFIX, strlen(PRELOAD_PREFIX)) == 0 &&
                    strstr(envp[i] + strlen(PRELOAD_PREFIX), shim_path))
                        return false;
        return true;
}

/* Fill @out (room for env_count(@envp) + 2) with @envp, its LD_PRELOAD
 * replaced by @var, which gets the shim in front of what was there. */
static void env_with_shim(char *const envp[], char **out, char *var, size_t var_size) {
        const char *old = NULL;
        size_t k = 0;

        for (size_t i = 0; envp && envp[i]; i++) {
                if (strncmp(envp[i], PRELOAD_PREFIX, strlen(PRELOAD_PREFIX)) == 0) {
                        old = envp[i] + strlen(PRELOAD_PREFIX);
                        continue;
                }
                out[k++] = envp[i];
        }
        if (old && *old)
                snprintf(var, var_size, PRELOAD_PREFIX "%s:%s", shim_path, old);
        else
                snprintf(var, var_size, PRELOAD_PREFIX "%s", shim_path);
        out[k++] = var;
        out[k] = NULL;
}

#define WITH_SHIM_ENV(envp, call)                                               \
        ({                                                                      \
                char *_env_[env_count(envp) + 2];                               \
                char _var_[PRELOAD_VAR_MAX];                                    \
                env_with_shim(envp, _env_, _var_, sizeof(_var_));               \
                char *const *_new_env_ = _env_;                                 \
                (void) _new_env_;                                               \
                call;                                                           \
        })

/* Before our constructor ran (another library's constructor execs). */
static void resolve(void) {
        if (!real_execve)
                shim_exec_init();
}

_public_ int execve(const char *path, char *const argv[], char *const envp[]) {
        resolve();
        if (!needs_shim(envp))
                return real_execve(path, argv, envp);
        return WITH_SHIM_ENV(envp, real_execve(path, argv, _new_env_));
}

_public_ int execvpe(const char *file, char *const argv[], char *const envp[]) {
        resolve();
        if (!needs_shim(envp))
                return real_execvpe(file, argv, envp);
        return WITH_SHIM_ENV(envp, real_execvpe(file, argv, _new_env_));
}

_public_ int fexecve(int fd, char *const argv[], char *const envp[]) {
        resolve();
        if (!needs_shim(envp))
                return real_fexecve(fd, argv, envp);
        return WITH_SHIM_ENV(envp, real_fexecve(fd, argv, _new_env_));
}

_public_ int posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
                         const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
        resolve();
        if (!needs_shim(envp))
                return real_posix_spawn(pid, path, actions, attr, argv, envp);
        return WITH_SHIM_ENV(envp, real_posix_spawn(pid, path, actions, attr, argv, _new_env_));
}

_public_ int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *actions,
                          const posix_spawnattr_t *attr, char *const argv[], char *const envp[]) {
        resolve();
        resolve();
        if (!needs_shim(envp))
                return real_posix_spawnp(pid, file, actions, attr, argv, envp);
        return WITH_SHIM_ENV(envp, real_posix_spawnp(pid, file, actions, attr, argv, _new_env_));
}
