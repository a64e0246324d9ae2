class Command(BaseCommand):

    # 可視性タイムアウト(3時間)
    TIMEOUT = 3 * 60 * 60

    def add_arguments(self, parser):
        parser.add_argument('que_id', nargs='+', type=str)
        parser.add_argument('-r', '--receipt-handle', nargs='*', dest='receipt_handle')

    def handle(self, *args, **options):
        que_id = options['que_id'][0]
        receipt_handle = None
        if 'receipt_handle' in options and options['receipt_handle']:
            receipt_handle = options['receipt_handle'][0]

        sqs = Sqs('キュー作成時にメモったURL')
        # キューテーブルからキューを取得
        que = QueTable.objects.filter(id=que_id).first()
        if not que:
            logger.error(f"レコードが存在しませんでした que_id: {que_id}")
            if receipt_handle:
                sqs.delete_message(receipt_handle)
        elif que.status == "RUNNING":
            # 可視性タイムアウト以上に時間がかかってる場合
            print(f"実行中のためスキップします que_id: {que_id}")
        elif que.status == "SUCCESS" or que.status == "FAILURE":
            # 完了してるのにメッセージが削除されていない場合
            print(f"実行済みのためスキップします que_id: {que_id}")
            if receipt_handle:
                sqs.delete_message(receipt_handle)
        else:
            try:
                if receipt_handle:
                    sqs.change_message_visibility(receipt_handle, self.TIMEOUT)
                # 処理実行(S3からCSVファイルをダウンロードして内容を登録する)
                que.run()
                if receipt_handle:
                    sqs.delete_message(receipt_handle)
            except Exception as e:
                print(e)
