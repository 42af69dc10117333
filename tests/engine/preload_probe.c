/*
 * preload_probe: allocates 10 bytes and says who served them: "spanlab <variant>" when
 * a spanlab library is preloaded (its spanlab_variant symbol is visible), else "glibc".
 * small_as.sh runs it under address-space limits.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

int main(void)
{
	char *p = malloc(10);
	if (!p) {
		puts("malloc(10) failed");
		return 1;
	}
	p[0] = 'x';
	p[9] = 'y';
	const char *(*variant)(void);
	*(void **)&variant = dlsym(RTLD_DEFAULT, "spanlab_variant");
	printf("%s %s\n", variant ? "spanlab" : "glibc", variant ? variant() : "");
	free(p);
	return 0;
}
