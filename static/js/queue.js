// The queue page: views, paging, the picker, bulk actions, live rows (issue #15).
