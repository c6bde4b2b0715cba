// C11 threads on top of pthreads, linked into every executable of a ThreadSanitizer build only
// (cmake/sanitizers.cmake).
//
// librdkafka starts its threads with C11 thrd_create and locks with mtx_* / cnd_* (glibc 2.34+).
// glibc implements those by calling its pthread functions internally, past TSan's interceptors
// (LLVM 14 intercepts none of the C11 calls): TSan never sees librdkafka's threads start, and
// the first thing such a thread does in instrumented code crashes the runtime ("CHECK failed:
// ((thr->slot)) != (0)"); nor would it see librdkafka's locks, and so it would report races
// that the locks prevent. Defined in the executable, these take precedence over glibc's and go
// through the intercepted pthread calls. glibc's C11 types are its pthread types (thrd_t is
// pthread_t; mtx_t, cnd_t and once_flag have the size and layout of pthread_mutex_t,
// pthread_cond_t and pthread_once_t: glibc's own implementation casts them the same way).
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

_Static_assert(sizeof(mtx_t) == sizeof(pthread_mutex_t), "mtx_t is not a pthread_mutex_t");
_Static_assert(sizeof(cnd_t) == sizeof(pthread_cond_t), "cnd_t is not a pthread_cond_t");
_Static_assert(sizeof(once_flag) == sizeof(pthread_once_t), "once_flag is not a pthread_once_t");
_Static_assert(sizeof(thrd_t) == sizeof(pthread_t), "thrd_t is not a pthread_t");

static int to_thrd(int rc) {
  switch (rc) {
    case 0:
      return thrd_success;
    case EBUSY:
      return thrd_busy;
    case ETIMEDOUT:
      return thrd_timedout;
    case ENOMEM:
    case EAGAIN:
      return thrd_nomem;
    default:
      return thrd_error;
  }
}

struct start {
  thrd_start_t func;
  void* arg;
};

static void* trampoline(void* p) {
  struct start s = *(struct start*)p;
  free(p);
  return (void*)(intptr_t)s.func(s.arg);
}

int thrd_create(thrd_t* thr, thrd_start_t func, void* arg) {
  struct start* s = malloc(sizeof *s);
  if (s == NULL) return thrd_nomem;
  s->func = func;
  s->arg = arg;
  const int rc = pthread_create((pthread_t*)thr, NULL, trampoline, s);
  if (rc != 0) free(s);
  return to_thrd(rc);
}

int thrd_join(thrd_t thr, int* res) {
  void* ret = NULL;
  const int rc = pthread_join((pthread_t)thr, &ret);
  if (rc == 0 && res != NULL) *res = (int)(intptr_t)ret;
  return to_thrd(rc);
}

int thrd_detach(thrd_t thr) { return to_thrd(pthread_detach((pthread_t)thr)); }

_Noreturn void thrd_exit(int res) { pthread_exit((void*)(intptr_t)res); }

int mtx_init(mtx_t* m, int type) {
  pthread_mutexattr_t attr;
  pthread_mutexattr_init(&attr);
  if (type & mtx_recursive) pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
  const int rc = pthread_mutex_init((pthread_mutex_t*)m, &attr);
  pthread_mutexattr_destroy(&attr);
  return to_thrd(rc);
}

int mtx_lock(mtx_t* m) { return to_thrd(pthread_mutex_lock((pthread_mutex_t*)m)); }

int mtx_trylock(mtx_t* m) { return to_thrd(pthread_mutex_trylock((pthread_mutex_t*)m)); }

int mtx_timedlock(mtx_t* restrict m, const struct timespec* restrict ts) {
  return to_thrd(pthread_mutex_timedlock((pthread_mutex_t*)m, ts));
}

int mtx_unlock(mtx_t* m) { return to_thrd(pthread_mutex_unlock((pthread_mutex_t*)m)); }

void mtx_destroy(mtx_t* m) { pthread_mutex_destroy((pthread_mutex_t*)m); }

int cnd_init(cnd_t* c) { return to_thrd(pthread_cond_init((pthread_cond_t*)c, NULL)); }

int cnd_signal(cnd_t* c) { return to_thrd(pthread_cond_signal((pthread_cond_t*)c)); }

int cnd_broadcast(cnd_t* c) { return to_thrd(pthread_cond_broadcast((pthread_cond_t*)c)); }

int cnd_wait(cnd_t* c, mtx_t* m) {
  return to_thrd(pthread_cond_wait((pthread_cond_t*)c, (pthread_mutex_t*)m));
}

int cnd_timedwait(cnd_t* restrict c, mtx_t* restrict m, const struct timespec* restrict ts) {
  return to_thrd(pthread_cond_timedwait((pthread_cond_t*)c, (pthread_mutex_t*)m, ts));
}

void cnd_destroy(cnd_t* c) { pthread_cond_destroy((pthread_cond_t*)c); }

void call_once(once_flag* flag, void (*func)(void)) { pthread_once((pthread_once_t*)flag, func); }
