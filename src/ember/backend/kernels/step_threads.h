/* Threads that share every step of a recurrence: a team started for one call, and a barrier between steps.
 *
 * A recurrent layer's step is short (a (N, H) x (H, 4H) product and one elementwise pass: tens of
 * microseconds), and each step waits for the last. Handing half of every step to a helper through a queue
 * costs more than the half (a wake-up takes 50-200 us on a virtual machine), so the sequence kernels
 * (lstm_sequence.c) start their team once per call and let each thread run every step on its own share of
 * the hidden units, meeting the others at a barrier once a step. A thread waiting at the barrier spins for a
 * short while (about a step's length), then yields its core to the scheduler, so that a busy host is not
 * made busier. Included once by all.c (it is not a template). */
#ifndef EMBER_STEP_THREADS_H
#define EMBER_STEP_THREADS_H

#include <pthread.h>
#include <sched.h>

#define EMBER_MAX_STEP_THREADS 64
#define EMBER_SPINS_BEFORE_YIELD 2000

static inline void ember_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

/* Spin on *flag until it equals `value`, yielding the core after EMBER_SPINS_BEFORE_YIELD tries. */
static void ember_wait_for(const int *flag, int value)
{
    long spins = 0;
    while (__atomic_load_n(flag, __ATOMIC_ACQUIRE) != value) {
        if (++spins < EMBER_SPINS_BEFORE_YIELD)
            ember_pause();
        else
            sched_yield();
    }
}

/* A sense-reversing barrier for `total` threads; each thread keeps its own sense, starting at 0. */
struct ember_barrier {
    int count;
    int sense;
    int total;
};

static void ember_barrier_wait(struct ember_barrier *barrier, int *sense)
{
    if (barrier->total == 1)
        return;
    *sense = !*sense;
    if (__atomic_add_fetch(&barrier->count, 1, __ATOMIC_ACQ_REL) == barrier->total) {
        __atomic_store_n(&barrier->count, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&barrier->sense, *sense, __ATOMIC_RELEASE);
        return;
    }
    ember_wait_for(&barrier->sense, *sense);
}

/* A team of `size` threads running one call: work(context, k, team) for k = 0 .. size-1, k = 0 on the
 * calling thread. The helpers wait for `go` until the calling thread knows how many could be started, so
 * that `size` and the barrier count only threads that exist. */
struct ember_team {
    int size;
    int go;
    struct ember_barrier barrier;
};

typedef void (*ember_team_work)(void *context, int index, struct ember_team *team);

struct ember_team_member {
    ember_team_work work;
    void *context;
    int index;
    struct ember_team *team;
};

static void *ember_team_entry(void *argument)
{
    struct ember_team_member *member = (struct ember_team_member *)argument;
    ember_wait_for(&member->team->go, 1);
    member->work(member->context, member->index, member->team);
    return NULL;
}

/* Runs `work` on up to `threads` threads (fewer where a thread cannot be started); returns how many ran. */
static int ember_team_run(ember_team_work work, void *context, int threads)
{
    pthread_t helpers[EMBER_MAX_STEP_THREADS];
    struct ember_team_member members[EMBER_MAX_STEP_THREADS];
    struct ember_team team = {1, 0, {0, 0, 1}};
    if (threads > EMBER_MAX_STEP_THREADS)
        threads = EMBER_MAX_STEP_THREADS;
    int started = 1;
    for (int k = 1; k < threads; k++) {
        members[k] = (struct ember_team_member){work, context, k, &team};
        if (pthread_create(&helpers[k], NULL, ember_team_entry, &members[k]) != 0)
            break;
        started++;
    }
    team.size = started;
    team.barrier.total = started;
    __atomic_store_n(&team.go, 1, __ATOMIC_RELEASE);
    work(context, 0, &team);
    for (int k = 1; k < started; k++)
        pthread_join(helpers[k], NULL);
    return started;
}

#endif
