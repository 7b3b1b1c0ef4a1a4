/*
 * Finds the prime numbers up to n with the sieve of Eratosthenes.
 * Input: optional JSON on stdin, {"n": 100}.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DEFAULT_LIMIT 100L
#define MAX_LIMIT 10000000L /* the sieve uses one byte per number: 10 MB at most */
#define MAX_INPUT_BYTES 65536
#define MAX_PRINTED_PRIMES 10

/* Reads stdin into buffer. Returns the number of bytes read, or -1 when the input is too large. */
static long read_input(char *buffer, size_t capacity) {
    size_t length = fread(buffer, 1, capacity - 1, stdin);
    buffer[length] = '\0';
    if (length == capacity - 1 && fgetc(stdin) != EOF) {
        return -1;
    }
    return (long)length;
}

/* Tells whether the input is empty or looks like a JSON object: only whitespace, or text from '{' to '}'. */
static int is_empty_or_object(const char *input) {
    const char *first = input;
    while (*first == ' ' || *first == '\t' || *first == '\n' || *first == '\r') {
        first++;
    }
    if (*first == '\0') {
        return 1;
    }
    const char *last = input + strlen(input) - 1;
    while (*last == ' ' || *last == '\t' || *last == '\n' || *last == '\r') {
        last--;
    }
    return *first == '{' && *last == '}';
}

/*
 * Reads the integer after the "n" key. This is not a full JSON parser: it
 * finds the first "n" key in the text. Returns 0 on success, -1 on an invalid value.
 */
static int parse_limit(const char *input, long *limit) {
    const char *key = strstr(input, "\"n\"");
    if (key == NULL) {
        return 0;
    }
    const char *cursor = key + 3;
    while (*cursor == ' ' || *cursor == '\t' || *cursor == '\n' || *cursor == '\r') {
        cursor++;
    }
    if (*cursor != ':') {
        return -1;
    }
    cursor++;

    char *end = NULL;
    errno = 0;
    long value = strtol(cursor, &end, 10);
    while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r') {
        end++;
    }
    int ends_value = *end == ',' || *end == '}' || *end == '\0';
    if (end == cursor || !ends_value || errno != 0 || value < 2 || value > MAX_LIMIT) {
        return -1;
    }
    *limit = value;
    return 0;
}

int main(void) {
    clock_t started = clock();
    static char input[MAX_INPUT_BYTES];
    if (read_input(input, sizeof input) < 0) {
        fprintf(stderr, "input is larger than %d bytes\n", MAX_INPUT_BYTES - 1);
        return 2;
    }

    if (!is_empty_or_object(input)) {
        fprintf(stderr, "invalid input: expected a JSON object like {\"n\": 100}\n");
        return 2;
    }

    long limit = DEFAULT_LIMIT;
    if (parse_limit(input, &limit) != 0) {
        fprintf(stderr, "invalid input: \"n\" must be an integer from 2 to %ld\n", MAX_LIMIT);
        return 2;
    }

    char *is_composite = calloc((size_t)limit + 1, 1);
    if (is_composite == NULL) {
        fprintf(stderr, "out of memory for a sieve of %ld bytes\n", limit + 1);
        return 1;
    }
    for (long i = 2; i * i <= limit; i++) {
        if (!is_composite[i]) {
            for (long multiple = i * i; multiple <= limit; multiple += i) {
                is_composite[multiple] = 1;
            }
        }
    }

    long count = 0;
    for (long i = 2; i <= limit; i++) {
        count += !is_composite[i];
    }
    printf("There are %ld primes up to %ld.\n", count, limit);

    /* Collect the largest primes from the top down, then print them in ascending order. */
    long largest[MAX_PRINTED_PRIMES];
    int largest_count = 0;
    for (long i = limit; i >= 2 && largest_count < MAX_PRINTED_PRIMES; i--) {
        if (!is_composite[i]) {
            largest[largest_count++] = i;
        }
    }
    printf("The largest %d:", largest_count);
    for (int i = largest_count - 1; i >= 0; i--) {
        printf(" %ld", largest[i]);
    }
    printf("\n");
    free(is_composite);

    double elapsed_ms = 1000.0 * (double)(clock() - started) / CLOCKS_PER_SEC;
    fprintf(stderr, "sieve of %ld numbers took %.2f ms of CPU time\n", limit, elapsed_ms);
    return 0;
}
